//! The one-step stage setup shared by `vrm-avatar ivs configure` and OBS's Tools -> IVS Stage
//! Setup: the stream service a participant token or an RTMPS endpoint makes, whether this OBS
//! can take it, and the texts the user reads about it (secrets masked). Pure: no libobs.

use super::preflight::{Severity, Violation};
use super::{mask, token};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::Path;

/// obs-webrtc's WHIP service (OBS 30+).
pub const WHIP: &str = "whip_custom";
/// OBS's custom RTMP(S) server.
pub const RTMP: &str = "rtmp_custom";

/// The stream service OBS gets for the stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamService {
    /// [`WHIP`] or [`RTMP`].
    pub type_id: &'static str,
    pub server: String,
    /// The bearer token (WHIP) or the stream key (RTMP).
    pub secret: String,
    /// What the user should know before going live (an expired token, plain RTMP, ...).
    pub warnings: Vec<String>,
}

/// Whether `url` is HTTPS to a host of Amazon IVS's (`live-video.net` or a name under it).
fn is_ivs_whip_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    host == "live-video.net" || host.ends_with(".live-video.net")
}

impl StreamService {
    /// WHIP with a participant token: the token's own WHIP URL is the server. The token is only
    /// read (not verified) to warn.
    pub fn whip(token: &str) -> Result<StreamService> {
        let token = token.trim();
        let info = token::inspect(token)?;
        let mut warnings = Vec::new();
        if info.expired {
            warnings.push(format!(
                "the token {} expired at {}",
                mask(token),
                info.expires_at
            ));
        }
        if !info.capabilities.contains(&"publish") {
            warnings.push(format!(
                "the token {} has no publish capability; IVS will refuse the stream",
                mask(token)
            ));
        }
        // The token goes to this server as a bearer secret, and the claim is not verified:
        // only an IVS host (under live-video.net, over HTTPS) is taken from it.
        let server = if is_ivs_whip_url(&info.whip_url) {
            info.whip_url
        } else {
            if !info.whip_url.is_empty() {
                warnings.push(format!(
                    "the token's whip_url {:?} is not an IVS host (https://*.live-video.net); \
                     publishing to {} instead",
                    info.whip_url,
                    token::DEFAULT_WHIP_URL
                ));
            }
            token::DEFAULT_WHIP_URL.to_string()
        };
        Ok(StreamService {
            type_id: WHIP,
            server,
            secret: token.to_string(),
            warnings,
        })
    }

    /// RTMP(S) with the stage's ingest endpoint and an ingest configuration's stream key.
    pub fn rtmp(url: &str, key: &str) -> Result<StreamService> {
        let (url, key) = (url.trim(), key.trim());
        if !(url.starts_with("rtmps://") || url.starts_with("rtmp://")) {
            bail!("the RTMPS URL {url:?} must start with rtmps:// (or rtmp://)");
        }
        if key.is_empty() {
            bail!("the stream key is empty");
        }
        let mut warnings = Vec::new();
        if url.starts_with("rtmp://") && !is_loopback_url(url) {
            warnings.push(format!(
                "{url} is plain RTMP; IVS stages take RTMPS unless the ingest configuration allows insecure ingest"
            ));
        }
        Ok(StreamService {
            type_id: RTMP,
            server: url.to_string(),
            secret: key.to_string(),
            warnings,
        })
    }

    /// The setup form: a token, or an RTMPS URL with its stream key (empty fields are unset).
    pub fn from_form(token: &str, rtmp_url: &str, stream_key: &str) -> Result<StreamService> {
        let (token, rtmp_url, stream_key) = (token.trim(), rtmp_url.trim(), stream_key.trim());
        match (
            token.is_empty(),
            rtmp_url.is_empty() && stream_key.is_empty(),
        ) {
            (false, true) => StreamService::whip(token),
            (true, false) => StreamService::rtmp(rtmp_url, stream_key),
            (false, false) => bail!(
                "give a participant token (WHIP) or an RTMPS URL with its stream key, not both"
            ),
            (true, true) => {
                bail!("give a participant token (WHIP), or the stage's RTMPS URL and a stream key")
            }
        }
    }

    /// OBS's service settings: `server` with `bearer_token` (WHIP) or `key` (RTMP).
    pub fn settings(&self) -> Value {
        if self.type_id == WHIP {
            json!({"server": self.server, "bearer_token": self.secret})
        } else {
            json!({"server": self.server, "key": self.secret, "use_auth": false})
        }
    }

    /// obs-websocket's SetStreamServiceSettings request.
    pub fn to_request(&self) -> Value {
        json!({"streamServiceType": self.type_id, "streamServiceSettings": self.settings()})
    }

    /// One line for logs and messages, the secret masked.
    pub fn describe(&self) -> String {
        let secret = if self.type_id == WHIP {
            "bearer token"
        } else {
            "stream key"
        };
        format!(
            "stream service {}, server {}, {secret} {}",
            self.type_id,
            self.server,
            mask(&self.secret)
        )
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or("");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

/// Why this OBS cannot publish over WHIP, if it cannot: WHIP came with OBS 30 (obs-webrtc).
pub fn whip_unsupported(obs_version: &str, has_whip_service: bool) -> Option<String> {
    let major: u32 = obs_version
        .split('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    if major < 30 {
        Some(format!(
            "WHIP needs OBS 30 or newer (this OBS is {obs_version})"
        ))
    } else if !has_whip_service {
        Some(format!(
            "this OBS {obs_version} has no WHIP service ({WHIP}; its obs-webrtc plugin is missing)"
        ))
    } else {
        None
    }
}

/// What a token says: stage, participant, capabilities and expiry (or why it is not one).
pub fn token_summary(token: &str) -> String {
    match token::inspect(token) {
        Ok(info) => format!(
            "Token {}: stage {} ({}), participant {}, {}; {} {}",
            mask(token.trim()),
            info.stage_id,
            info.stage_arn,
            info.user_id.as_deref().unwrap_or(&info.participant_id),
            info.capabilities.join("+"),
            if info.expired {
                "EXPIRED at"
            } else {
                "expires"
            },
            info.expires_at
        ),
        Err(err) => format!("Token {}: {err:#}", mask(token.trim())),
    }
}

/// The preflight's result as lines a user reads: each violation with its fix.
pub fn report(violations: &[Violation]) -> String {
    if violations.is_empty() {
        return "OBS's output settings follow every IVS ingest rule.".to_string();
    }
    let errors = violations
        .iter()
        .filter(|v| v.severity == Severity::Error)
        .count();
    let mut text = format!(
        "{errors} IVS rule(s) broken, {} warning(s):",
        violations.len() - errors
    );
    for v in violations {
        let level = match v.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        text.push_str(&format!(
            "\n- {level} {}: {}; fix: {}",
            v.id, v.message, v.fix
        ));
    }
    text
}

/// A JSON object file such as a profile's `streamEncoder.json`; a missing or empty file is an
/// empty object (as OBS reads it).
pub fn read_json_object(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(json!({})),
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Merges `keys` into the JSON object file at `path`, replacing it atomically.
pub fn merge_json_file(path: &Path, keys: &Map<String, Value>) -> Result<()> {
    let mut json = read_json_object(path)?;
    let Some(object) = json.as_object_mut() else {
        bail!("{} is not a JSON object", path.display());
    };
    object.extend(keys.clone());
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_token(capabilities: &str, issued_at: Option<u64>) -> String {
        token_with_whip_url(
            capabilities,
            issued_at,
            "https://abc.global-bm.whip.live-video.net",
        )
    }

    fn token_with_whip_url(capabilities: &str, issued_at: Option<u64>, whip_url: &str) -> String {
        use p384::pkcs8::EncodePrivateKey;
        let secret = p384::SecretKey::from_slice(&[5u8; 48]).unwrap();
        let pem = secret.to_pkcs8_pem(p384::pkcs8::LineEnding::LF).unwrap();
        let request = token::TokenRequest {
            stage_arn: "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456".into(),
            key_arn: "arn:aws:ivs:us-east-1:123456789012:public-key/Key123".into(),
            user_id: Some("vtuber".into()),
            attributes: Default::default(),
            capabilities: token::Capabilities::parse(capabilities).unwrap(),
            duration_secs: 3600,
            jti: None,
            whip_url: whip_url.into(),
            events_url: token::DEFAULT_EVENTS_URL.into(),
            issued_at,
        };
        token::create(&request, &pem).unwrap()
    }

    #[test]
    fn a_token_makes_a_whip_service_with_its_own_url() {
        let token = test_token("publish", None);
        let service = StreamService::from_form(&format!(" {token}\n"), "", "").unwrap();
        assert_eq!(service.type_id, WHIP);
        assert_eq!(service.server, "https://abc.global-bm.whip.live-video.net");
        assert_eq!(
            service.settings(),
            json!({"server": service.server, "bearer_token": token})
        );
        assert!(service.warnings.is_empty(), "{:?}", service.warnings);
        let line = service.describe();
        assert!(
            line.contains(&mask(&token)) && !line.contains(&token[10..40]),
            "{line}"
        );
    }

    #[test]
    fn expired_and_subscribe_only_tokens_are_warned_about() {
        let token = test_token("subscribe", Some(1_000_000));
        let service = StreamService::whip(&token).unwrap();
        assert_eq!(service.warnings.len(), 2, "{:?}", service.warnings);
        assert!(service.warnings[0].contains("expired at 1970-01-12"));
        assert!(service.warnings[1].contains("no publish capability"));
        assert!(token_summary(&token).contains("EXPIRED at"));
    }

    #[test]
    fn the_form_takes_a_token_or_a_url_with_its_key() {
        let rtmp = StreamService::from_form(
            "",
            "rtmps://x.global-contribute.live-video.net:443/app/",
            "sk_key",
        )
        .unwrap();
        assert_eq!(rtmp.type_id, RTMP);
        assert_eq!(
            rtmp.to_request(),
            json!({"streamServiceType": "rtmp_custom", "streamServiceSettings":
                   {"server": "rtmps://x.global-contribute.live-video.net:443/app/", "key": "sk_key", "use_auth": false}})
        );
        assert!(rtmp.warnings.is_empty());
        let error =
            |t: &str, u: &str, k: &str| StreamService::from_form(t, u, k).unwrap_err().to_string();
        assert!(error("", "", "").starts_with("give a participant token"));
        assert!(error("a.b.c", "rtmps://h/app", "k").contains("not both"));
        assert!(error("", "https://h/app", "k").contains("must start with rtmps://"));
        assert_eq!(error("", "rtmps://h/app", " "), "the stream key is empty");
        assert!(error("not-a-token", "", "").contains("is not a JWT"));
        let plain = StreamService::rtmp("rtmp://ingest.example.com/app", "k").unwrap();
        assert!(plain.warnings[0].contains("plain RTMP"));
        assert!(
            StreamService::rtmp("rtmp://127.0.0.1:1935/live", "k")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn whip_needs_obs_30_with_obs_webrtc() {
        assert_eq!(
            whip_unsupported("29.0.2", false).unwrap(),
            "WHIP needs OBS 30 or newer (this OBS is 29.0.2)"
        );
        assert!(
            whip_unsupported("30.2.3", false)
                .unwrap()
                .contains("obs-webrtc")
        );
        assert_eq!(whip_unsupported("31.0.0", true), None);
    }

    #[test]
    fn the_report_lists_each_violation_with_its_fix() {
        assert!(report(&[]).contains("follow every IVS ingest rule"));
        let violations = vec![
            Violation {
                id: "video.b_frames",
                severity: Severity::Error,
                message: "the encoder uses 3 B-frames".into(),
                fix: "set B-frames to 0".into(),
            },
            Violation {
                id: "video.bitrate_recommended",
                severity: Severity::Warning,
                message: "6000 kbps".into(),
                fix: "set the bitrate to 2500 kbps".into(),
            },
        ];
        assert_eq!(
            report(&violations),
            "1 IVS rule(s) broken, 1 warning(s):\n\
             - error video.b_frames: the encoder uses 3 B-frames; fix: set B-frames to 0\n\
             - warning video.bitrate_recommended: 6000 kbps; fix: set the bitrate to 2500 kbps"
        );
    }

    #[test]
    fn stream_encoder_files_are_merged_in_place() {
        let dir = std::env::temp_dir().join(format!("ivs-setup-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("streamEncoder.json");
        let _ = std::fs::remove_file(&path);
        assert_eq!(read_json_object(&path).unwrap(), json!({}));
        std::fs::write(&path, r#"{"bf": 2, "threads": 2}"#).unwrap();
        let keys = json!({"bf": 0, "profile": "baseline"});
        merge_json_file(&path, keys.as_object().unwrap()).unwrap();
        assert_eq!(
            read_json_object(&path).unwrap(),
            json!({"bf": 0, "threads": 2, "profile": "baseline"})
        );
        std::fs::write(&path, "[1]").unwrap();
        let err = merge_json_file(&path, keys.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("is not a JSON object"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_an_ivs_host_of_the_token_gets_the_token() {
        for url in [
            "https://evil.example.com/whip",
            "https://live-video.net.evil.example.com",
            "https://user@x.live-video.net.example.com",
        ] {
            let token = token_with_whip_url("publish", None, url);
            let service = StreamService::whip(&token).unwrap();
            assert_eq!(service.server, token::DEFAULT_WHIP_URL, "{url}");
            assert!(
                service
                    .warnings
                    .iter()
                    .any(|w| w.contains("is not an IVS host")),
                "{url}: {:?}",
                service.warnings
            );
        }
        // (`ivs token` refuses to make one with plain http; others may.)
        assert!(!is_ivs_whip_url("http://abc.global-bm.whip.live-video.net"));
        for url in [
            "https://global.whip.live-video.net",
            "https://abc.global-bm.whip.live-video.net:443/v1",
        ] {
            let service = StreamService::whip(&token_with_whip_url("publish", None, url)).unwrap();
            assert_eq!(service.server, url);
        }
    }
}
