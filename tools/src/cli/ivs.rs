//! `vrm-avatar ivs ...`: participant tokens, and OBS's stream set up and checked for an Amazon
//! IVS real-time stage over obs-websocket. Secrets (tokens, stream keys) only ever appear masked
//! in messages.

use crate::launcher::obsws::ObsWs;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use obs_vrm_avatar::ivs::preflight::{
    self, ObsSettings, OutputMode, ProfileWriter, Severity, VideoSettings,
};
use obs_vrm_avatar::ivs::setup::{self, StreamService};
use obs_vrm_avatar::ivs::token;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Exit status of `ivs check` when a rule is broken.
pub const EXIT_VIOLATIONS: i32 = 3;

#[derive(Subcommand)]
pub enum IvsCommand {
    /// Print a participant token (ES384 JWT) for a stage, signed offline with the private key
    /// of a public key imported into IVS.
    Token {
        /// The P-384 private key (PEM: PKCS#8 or SEC1).
        #[arg(long)]
        private_key: PathBuf,
        /// ARN of the imported public key (arn:aws:ivs:REGION:ACCOUNT:public-key/ID).
        #[arg(long)]
        key_arn: String,
        /// ARN of the stage (arn:aws:ivs:REGION:ACCOUNT:stage/ID).
        #[arg(long)]
        stage_arn: String,
        /// Your name for the participant (shown to everyone on the stage).
        #[arg(long)]
        user_id: Option<String>,
        /// NAME=VALUE shown to everyone on the stage (repeatable; 1 KB in all).
        #[arg(long = "attribute", value_parser = token::parse_attribute)]
        attributes: Vec<(String, String)>,
        /// publish, subscribe or publish,subscribe.
        #[arg(long, default_value = "publish,subscribe")]
        capabilities: String,
        /// How long the token is valid: 90s, 30m, 12h, 14d (at most 14 days).
        #[arg(long, default_value = "12h")]
        duration: String,
        /// The participant id (1-64 of A-Z a-z 0-9 _ -); random when omitted.
        #[arg(long)]
        jti: Option<String>,
        #[arg(long, default_value = token::DEFAULT_WHIP_URL)]
        whip_url: String,
        #[arg(long, default_value = token::DEFAULT_EVENTS_URL)]
        events_url: String,
    },
    /// Show a token's stage, capabilities and expiry (decoded, not verified).
    Inspect {
        /// The token, or @FILE to read it from a file.
        token: String,
    },
    /// Set a running OBS's stream service for the stage: WHIP with a participant token (OBS
    /// 30+), or RTMP(S) with the stage's endpoint and stream key. Refused while OBS streams.
    Configure {
        /// A participant token with publish capability (or @FILE).
        #[arg(long, required_unless_present = "rtmp_url", conflicts_with_all = ["rtmp_url", "stream_key"])]
        token: Option<String>,
        /// The stage's RTMPS ingest endpoint (rtmps://HOST:443/app/).
        #[arg(long, requires = "stream_key")]
        rtmp_url: Option<String>,
        /// The ingest configuration's stream key (or @FILE).
        #[arg(long, requires = "rtmp_url")]
        stream_key: Option<String>,
        #[command(flatten)]
        obs: ObsArgs,
        /// Also apply IVS's recommended output settings (720p or less, 1 s keyframes,
        /// Baseline, no B-frames, CBR 2.5 Mbps, audio 160 kbps or less).
        #[arg(long)]
        fix_settings: bool,
        /// Print the stream service settings OBS would get, as JSON (secrets included), and
        /// change nothing.
        #[arg(long, conflicts_with = "fix_settings")]
        dry_run: bool,
    },
    /// Check OBS's output settings against IVS's ingest rules: a list of violations, each with
    /// its fix; exit status 0 when there is none, 3 when there are.
    Check {
        #[command(flatten)]
        obs: ObsArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// How to reach OBS.
#[derive(clap::Args)]
pub struct ObsArgs {
    /// obs-websocket's address (OBS: Tools -> WebSocket Server Settings).
    #[arg(long, default_value = "ws://127.0.0.1:4455")]
    obs_websocket: String,
    /// obs-websocket's password, if it asks for one (or @FILE). Without this option,
    /// $OBS_WEBSOCKET_PASSWORD: a password on the command line is visible to every user of the
    /// machine (in /proc) and kept in the shell's history.
    #[arg(long)]
    password: Option<String>,
    /// Allow an obs-websocket address that is not this machine. ws:// is not encrypted: the
    /// token, stream key and password would cross that network in clear text.
    #[arg(long)]
    allow_remote: bool,
    /// OBS's configuration folder, where the profiles are (default:
    /// `$XDG_CONFIG_HOME/obs-studio` or `~/.config/obs-studio`). Needed in Advanced output
    /// mode, whose encoder settings OBS keeps in the profile's streamEncoder.json.
    #[arg(long)]
    obs_config: Option<PathBuf>,
}

/// Runs an `ivs` subcommand; returns the exit status.
pub fn run(command: IvsCommand) -> Result<i32> {
    match command {
        IvsCommand::Token {
            private_key,
            key_arn,
            stage_arn,
            user_id,
            attributes,
            capabilities,
            duration,
            jti,
            whip_url,
            events_url,
        } => {
            let pem = std::fs::read_to_string(&private_key)
                .with_context(|| format!("reading the private key {}", private_key.display()))?;
            let request = token::TokenRequest {
                stage_arn,
                key_arn,
                user_id,
                attributes: attributes.into_iter().collect::<BTreeMap<_, _>>(),
                capabilities: token::Capabilities::parse(&capabilities)?,
                duration_secs: token::parse_duration(&duration)?,
                jti,
                whip_url,
                events_url,
                issued_at: None,
            };
            let token = token::create(&request, &pem)?;
            println!("{token}");
            Ok(0)
        }
        IvsCommand::Inspect { token } => {
            let info = token::inspect(&secret_arg(&token)?)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(0)
        }
        IvsCommand::Configure {
            token,
            rtmp_url,
            stream_key,
            obs,
            fix_settings,
            dry_run,
        } => {
            let service = match (token, rtmp_url, stream_key) {
                (Some(token), _, _) => StreamService::whip(&secret_arg(&token)?)?,
                (None, Some(url), Some(key)) => StreamService::rtmp(&url, &secret_arg(&key)?)?,
                _ => bail!("give --token, or --rtmp-url with --stream-key"),
            };
            for warning in &service.warnings {
                log::warn!("{warning}");
            }
            if dry_run {
                println!("{}", serde_json::to_string_pretty(&service.to_request())?);
                return Ok(0);
            }
            configure(&obs, &service, fix_settings)?;
            Ok(0)
        }
        IvsCommand::Check { obs, json } => {
            let mut session = Session::connect(&obs)?;
            let settings = session.read_settings()?;
            let violations = preflight::check(&settings);
            if json {
                println!("{}", serde_json::to_string_pretty(&violations)?);
            } else if violations.is_empty() {
                println!("OBS's output settings follow every IVS ingest rule");
            } else {
                for v in &violations {
                    let level = match v.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    println!("{level} {}: {}; fix: {}", v.id, v.message, v.fix);
                }
            }
            let errors = violations.iter().any(|v| v.severity == Severity::Error);
            Ok(if errors { EXIT_VIOLATIONS } else { 0 })
        }
    }
}

/// Where `ivs configure` and `ivs check` take obs-websocket's password from when `--password`
/// is not given.
const PASSWORD_ENV: &str = "OBS_WEBSOCKET_PASSWORD";

/// Whether `host` (from ws://HOST:PORT) is this machine.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A secret given on the command line, or `@FILE` to keep it out of the shell's history.
fn secret_arg(arg: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading {path}"))?
            .trim()
            .to_string()),
        None => Ok(arg.trim().to_string()),
    }
}

/// A connection to a running OBS.
struct Session {
    ws: ObsWs,
    config_dir: Option<PathBuf>,
    version: String,
}

impl Session {
    fn connect(args: &ObsArgs) -> Result<Session> {
        let address = args.obs_websocket.strip_prefix("ws://").ok_or_else(|| {
            anyhow!(
                "--obs-websocket {}: expected ws://HOST:PORT",
                args.obs_websocket
            )
        })?;
        let (host, port) = address
            .trim_end_matches('/')
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                anyhow!(
                    "--obs-websocket {}: expected ws://HOST:PORT",
                    args.obs_websocket
                )
            })?;
        if !args.allow_remote && !is_loopback(&host) {
            bail!(
                "--obs-websocket {}: ws:// is not encrypted, and {host} is not this machine: a token, \
                 stream key or password sent there crosses the network in clear text (pass \
                 --allow-remote if that network is yours, or run this on OBS's machine)",
                args.obs_websocket
            );
        }
        let password = match &args.password {
            Some(arg) => Some(secret_arg(arg)?),
            None => std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
        };
        let mut ws = ObsWs::connect_with_password(
            &host,
            port,
            password.as_deref(),
            Duration::from_secs(3),
        )
        .with_context(|| {
            format!(
                "is OBS running with its WebSocket server on (Tools -> WebSocket Server Settings)? {}",
                args.obs_websocket
            )
        })?;
        let version = ws.request("GetVersion", json!({}))?["obsVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let config_dir = args.obs_config.clone().or_else(default_obs_config);
        Ok(Session {
            ws,
            config_dir,
            version,
        })
    }

    fn streaming(&mut self) -> Result<bool> {
        Ok(self.ws.request("GetStreamStatus", json!({}))?["outputActive"] == true)
    }

    /// The folder of OBS's current profile (found by its name in `basic.ini`).
    fn profile_dir(&mut self) -> Result<PathBuf> {
        let name = self.ws.request("GetProfileList", json!({}))?["currentProfileName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let config = self
            .config_dir
            .clone()
            .ok_or_else(|| anyhow!("OBS's configuration folder is unknown: give --obs-config"))?;
        let profiles = config.join("basic/profiles");
        let entries = std::fs::read_dir(&profiles).with_context(|| {
            format!(
                "reading OBS's profiles in {} (give --obs-config)",
                profiles.display()
            )
        })?;
        for dir in entries.flatten().map(|e| e.path()) {
            let ini = std::fs::read_to_string(dir.join("basic.ini")).unwrap_or_default();
            if ini.lines().any(|l| l.trim() == format!("Name={name}")) {
                return Ok(dir);
            }
        }
        bail!(
            "no folder in {} holds OBS's current profile {name:?} (give --obs-config)",
            profiles.display()
        )
    }

    fn read_settings(&mut self) -> Result<ObsSettings> {
        let v = self.ws.request("GetVideoSettings", json!({}))?;
        let number = |key: &str| v[key].as_u64().unwrap_or(0) as u32;
        let video = VideoSettings {
            base_width: number("baseWidth"),
            base_height: number("baseHeight"),
            output_width: number("outputWidth"),
            output_height: number("outputHeight"),
            fps_num: number("fpsNumerator"),
            fps_den: number("fpsDenominator").max(1),
        };
        let service = self.ws.request("GetStreamServiceSettings", json!({}))?;
        let service_type = service["streamServiceType"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mode = self.parameter("Output", "Mode")?.unwrap_or_default();
        let stream_encoder = if mode.eq_ignore_ascii_case("advanced") {
            let path = self.profile_dir()?.join("streamEncoder.json");
            Some(setup::read_json_object(&path)?)
        } else {
            None
        };
        let ws = RefCell::new(&mut self.ws);
        let failed = RefCell::new(None);
        let get = |section: &str, key: &str| match parameter(&mut ws.borrow_mut(), section, key) {
            Ok(value) => value,
            Err(err) => {
                failed.borrow_mut().get_or_insert(err);
                None
            }
        };
        let settings =
            ObsSettings::from_profile(video, &get, stream_encoder.as_ref(), &service_type);
        if let Some(err) = failed.into_inner() {
            return Err(err);
        }
        Ok(settings)
    }

    fn parameter(&mut self, section: &str, key: &str) -> Result<Option<String>> {
        parameter(&mut self.ws, section, key)
    }
}

impl ProfileWriter for Session {
    fn set_video(&mut self, width: u32, height: u32, fps_num: u32, fps_den: u32) -> Result<()> {
        self.ws
            .request(
                "SetVideoSettings",
                json!({"outputWidth": width, "outputHeight": height,
                       "fpsNumerator": fps_num, "fpsDenominator": fps_den}),
            )
            .context("changing the video settings (OBS refuses while recording or the virtual camera runs)")?;
        Ok(())
    }

    fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> Result<()> {
        self.ws.request(
            "SetProfileParameter",
            json!({"parameterCategory": section, "parameterName": key, "parameterValue": value}),
        )?;
        Ok(())
    }

    fn merge_stream_encoder(&mut self, keys: &serde_json::Map<String, Value>) -> Result<()> {
        let path = self.profile_dir()?.join("streamEncoder.json");
        setup::merge_json_file(&path, keys)
    }
}

/// A profile (`basic.ini`) value, or OBS's default for it.
fn parameter(ws: &mut ObsWs, section: &str, key: &str) -> Result<Option<String>> {
    let reply = ws.request(
        "GetProfileParameter",
        json!({"parameterCategory": section, "parameterName": key}),
    )?;
    Ok(reply["parameterValue"]
        .as_str()
        .or(reply["defaultParameterValue"].as_str())
        .map(str::to_string))
}

fn default_obs_config() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("obs-studio"))
}

/// Sets the stream service (and with `fix` the recommended output settings) of a running OBS.
fn configure(args: &ObsArgs, service: &StreamService, fix: bool) -> Result<()> {
    let mut session = Session::connect(args)?;
    if service.type_id == setup::WHIP
        // obs-websocket cannot list service types: OBS 30+ is taken to have obs-webrtc.
        && let Some(why) = setup::whip_unsupported(&session.version, true)
    {
        bail!("{why}; update OBS, or publish over RTMPS with --rtmp-url and --stream-key");
    }
    if session.streaming()? {
        bail!(
            "OBS is streaming: stop the stream first (settings are never changed on a live stream)"
        );
    }
    session
        .ws
        .request("SetStreamServiceSettings", service.to_request())?;
    eprintln!("OBS {}: {}", session.version, service.describe());
    if !fix {
        return Ok(());
    }
    let current = session.read_settings()?;
    for line in preflight::write_changes(&preflight::changes(&current), &mut session)? {
        eprintln!("{line}");
    }
    if current.mode == OutputMode::Simple {
        eprintln!(
            "Simple output mode: x264 custom options carry the profile, keyframes and B-frames"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "LocalHost",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "192.168.1.10",
            "0.0.0.0",
            "obs.example.com",
            "10.0.0.1",
            "[2001:db8::1]",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
