//! A small synchronous obs-websocket v5 client (the protocol OBS 28+ ships): identify, then
//! request/response. Enough to set up scenes, take screenshots and read statistics.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

pub struct ObsWs {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

/// obs-websocket op codes.
const HELLO: u64 = 0;
const IDENTIFY: u64 = 1;
const IDENTIFIED: u64 = 2;
const EVENT: u64 = 5;
const REQUEST: u64 = 6;
const REQUEST_RESPONSE: u64 = 7;

impl ObsWs {
    /// Connects to `host:port` and identifies, retrying until `wait` has passed (OBS takes a few
    /// seconds to start its server).
    pub fn connect(host: &str, port: u16, wait: Duration) -> Result<Self> {
        Self::connect_with_password(host, port, None, wait)
    }

    /// [`ObsWs::connect`] to a server that may ask for a password.
    pub fn connect_with_password(
        host: &str,
        port: u16,
        password: Option<&str>,
        wait: Duration,
    ) -> Result<Self> {
        Self::connect_subscribed(host, port, password, 0, wait)
    }

    /// [`ObsWs::connect_with_password`], subscribed to the events in the `subscriptions` bit
    /// mask (obs-websocket's EventSubscription; e.g. [`VENDOR_EVENTS`]), read with
    /// [`ObsWs::next_event`].
    pub fn connect_subscribed(
        host: &str,
        port: u16,
        password: Option<&str>,
        subscriptions: u64,
        wait: Duration,
    ) -> Result<Self> {
        let deadline = Instant::now() + wait;
        loop {
            match Self::try_connect(host, port, password, subscriptions) {
                Ok(ws) => return Ok(ws),
                Err(err) if Instant::now() >= deadline => {
                    return Err(
                        err.context(format!("obs-websocket at {host}:{port} did not answer"))
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    fn try_connect(
        host: &str,
        port: u16,
        password: Option<&str>,
        subscriptions: u64,
    ) -> Result<Self> {
        let stream = TcpStream::connect((host, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        let url = format!("ws://{host}:{port}");
        let (socket, _) = tungstenite::client(url.as_str(), stream)
            .map_err(|e| anyhow!("websocket handshake: {e}"))?;
        let mut ws = ObsWs { socket, next_id: 0 };
        let hello = ws.receive()?;
        if hello["op"] != HELLO {
            bail!("expected Hello from obs-websocket, got {hello}");
        }
        let mut identify = json!({"rpcVersion": 1, "eventSubscriptions": subscriptions});
        if let Some(auth) = hello["d"].get("authentication") {
            let Some(password) = password else {
                bail!("obs-websocket asks for a password (give --password)");
            };
            identify["authentication"] = json!(auth_response(
                password,
                auth["salt"].as_str().unwrap_or_default(),
                auth["challenge"].as_str().unwrap_or_default(),
            ));
        }
        ws.send(json!({"op": IDENTIFY, "d": identify}))?;
        let identified = match ws.receive() {
            Ok(message) => message,
            Err(_) if password.is_some() => bail!("obs-websocket refused the password"),
            Err(err) => return Err(err),
        };
        if identified["op"] != IDENTIFIED {
            bail!("obs-websocket refused to identify: {identified}");
        }
        Ok(ws)
    }

    fn send(&mut self, message: Value) -> Result<()> {
        self.socket
            .send(Message::text(message.to_string()))
            .context("sending to obs-websocket")
    }

    fn receive(&mut self) -> Result<Value> {
        loop {
            match self.socket.read().context("reading from obs-websocket")? {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .context("obs-websocket sent bad JSON");
                }
                Message::Close(_) => bail!("obs-websocket closed the connection"),
                _ => continue,
            }
        }
    }

    /// The next event (`d` of obs-websocket's Event message) within `limit`; None when none came.
    pub fn next_event(&mut self, limit: Duration) -> Result<Option<Value>> {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.get_mut().set_read_timeout(Some(left))?;
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(text.as_str())
                        .context("obs-websocket sent bad JSON")?;
                    if message["op"] == EVENT {
                        return Ok(Some(message["d"].clone()));
                    }
                }
                Ok(Message::Close(_)) => bail!("obs-websocket closed the connection"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e).context("reading from obs-websocket"),
            }
        }
    }

    /// How long a request waits for OBS's answer (30 s unless set: OBS under Valgrind takes
    /// minutes for some).
    pub fn set_timeout(&mut self, limit: Duration) -> Result<()> {
        let stream = self.socket.get_mut();
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))?;
        Ok(())
    }

    /// Closes the connection as a well-behaved client does (close frame, then waits briefly
    /// for OBS's answer), so that OBS never shuts down with a client still attached.
    pub fn close(&mut self) {
        let _ = self
            .socket
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(2)));
        if self.socket.close(None).is_ok() {
            while self.socket.read().is_ok() {}
        }
    }

    /// Sends a request and returns its `responseData` (`null` when it has none). A request that
    /// OBS refuses is an error naming the request, OBS's code and comment.
    pub fn request(&mut self, request_type: &str, data: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        self.send(json!({"op": REQUEST, "d": {"requestType": request_type, "requestId": id, "requestData": data}}))?;
        loop {
            let message = self.receive()?;
            if message["op"] != REQUEST_RESPONSE || message["d"]["requestId"] != id.as_str() {
                continue;
            }
            let status = &message["d"]["requestStatus"];
            if status["result"] != true {
                bail!(
                    "OBS refused {request_type}: code {} {}",
                    status["code"],
                    status["comment"].as_str().unwrap_or("")
                );
            }
            return Ok(message["d"]["responseData"].clone());
        }
    }
}

/// obs-websocket's EventSubscription bit for vendor events.
pub const VENDOR_EVENTS: u64 = 1 << 9;

/// obs-websocket v5's answer to its challenge:
/// base64(sha256(base64(sha256(password + salt)) + challenge)).
fn auth_response(password: &str, salt: &str, challenge: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = b64.encode(Sha256::digest(format!("{password}{salt}")));
    b64.encode(Sha256::digest(format!("{secret}{challenge}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn auth_response_matches_the_protocol_example() {
        // obs-websocket's protocol.md example: password "supersecretpassword".
        assert_eq!(
            super::auth_response(
                "supersecretpassword",
                "lM1GncleQOaCu9lT1yeUZhFYnqhsLLP1G5lAGo3ixaI=",
                "+IxH4CnCiqpX1rM9scsNynZzbOe4KhDeYcTNS3PDaeY="
            ),
            "1Ct943GAT+6YQUUX47Ia/ncufilbe6+oD6lY+5kaCu4="
        );
    }
}
