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
const REQUEST: u64 = 6;
const REQUEST_RESPONSE: u64 = 7;

impl ObsWs {
    /// Connects to `host:port` and identifies, retrying until `wait` has passed (OBS takes a few
    /// seconds to start its server).
    pub fn connect(host: &str, port: u16, wait: Duration) -> Result<Self> {
        let deadline = Instant::now() + wait;
        loop {
            match Self::try_connect(host, port) {
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

    fn try_connect(host: &str, port: u16) -> Result<Self> {
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
        if hello["d"].get("authentication").is_some() {
            bail!(
                "obs-websocket asks for a password; start OBS with authentication off for this tool"
            );
        }
        ws.send(json!({"op": IDENTIFY, "d": {"rpcVersion": 1, "eventSubscriptions": 0}}))?;
        let identified = ws.receive()?;
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
