//! `vrm-avatar vmc send POSE.json --to HOST:PORT [--fps F] [--loop]` plays an AvatarPose file
//! as a VMC performer; `vrm-avatar vmc record --seconds S --out POSE.json` listens as a
//! marionette and writes what came as an AvatarPose file. The same code as the OBS source's.

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use obs_vrm_avatar::pose::{AvatarPose, AvatarPoseFile};
use obs_vrm_avatar::settings;
use obs_vrm_avatar::vmc::{MAX_DATAGRAM, Receiver, Rest, Sender};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum VmcCommand {
    /// Play an AvatarPose file as VMC protocol messages (performer role).
    Send {
        /// The poses (the AvatarPose JSON of `vrm-avatar solve`).
        pose: PathBuf,
        /// Where to send: ADDRESS:PORT (a marionette listens on 39539).
        #[arg(long)]
        to: String,
        /// Frames a second.
        #[arg(long, default_value_t = 30.0)]
        fps: f64,
        /// Play the file again and again (until --seconds, or until stopped).
        #[arg(long = "loop")]
        looping: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// One message per datagram, for receivers that refuse OSC bundles.
        #[arg(long)]
        no_bundles: bool,
        /// The avatar whose bone lengths go with the rotations (default: the built-in one).
        #[arg(long)]
        vrm: Option<PathBuf>,
    },
    /// Listen for VMC (marionette role) and write the frames received as an AvatarPose file.
    Record {
        /// How long to listen.
        #[arg(long)]
        seconds: f64,
        /// Where to write the poses.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = obs_vrm_avatar::vmc::MARIONETTE_PORT)]
        port: u16,
        /// The address to listen on (another than 127.0.0.1 lets other computers send).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// The avatar whose rest the hips' position is measured from (default: the built-in).
        #[arg(long)]
        vrm: Option<PathBuf>,
    },
}

pub fn run(command: &VmcCommand) -> Result<()> {
    match command {
        VmcCommand::Send {
            pose,
            to,
            fps,
            looping,
            seconds,
            no_bundles,
            vrm,
        } => send(
            pose,
            to,
            *fps,
            *looping,
            *seconds,
            !no_bundles,
            vrm.as_deref(),
        ),
        VmcCommand::Record {
            seconds,
            out,
            port,
            bind,
            vrm,
        } => record(*seconds, out, *port, bind, vrm.as_deref()),
    }
}

fn rest_of(vrm: Option<&Path>) -> Result<Rest> {
    let model = obs_vrm_avatar::default_avatar::load_avatar(vrm).map_err(|e| {
        anyhow!(
            "{}: {e}",
            vrm.map_or("the built-in avatar".into(), |p| p.display().to_string())
        )
    })?;
    Ok(Rest::of(&model))
}

fn send(
    path: &Path,
    to: &str,
    fps: f64,
    looping: bool,
    seconds: Option<f64>,
    bundles: bool,
    vrm: Option<&Path>,
) -> Result<()> {
    if !(fps.is_finite() && (0.1..=1000.0).contains(&fps)) {
        bail!("--fps {fps}: give 0.1 to 1000 frames a second");
    }
    let given = to;
    let to = settings::vmc_send_to(true, given)
        .expect("asked to send")
        .map_err(|why| anyhow!("--to: {why}"))?;
    if !given.trim().ends_with(&format!(":{}", to.port())) {
        bail!("--to {given}: give the port too (ADDRESS:PORT; a marionette listens on 39539)");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: AvatarPoseFile = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}: not AvatarPose JSON: {e}", path.display()))?;
    if file.frames.is_empty() {
        bail!("{}: no frames", path.display());
    }
    let rest = rest_of(vrm)?;
    let socket = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    let sender = Sender { bundles };
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    // Frames in `seconds`, counted rather than timed, so a run's length does not depend on
    // rounding.
    let last = seconds.map(|s| (s.max(0.0) * fps).round() as u64);
    let (mut frames, mut datagrams, mut failed) = (0u64, 0u64, 0u64);
    'play: loop {
        for pose in &file.frames {
            if last.is_some_and(|last| frames >= last) {
                break 'play;
            }
            let due = start + period.mul_f64(frames as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let t = start.elapsed().as_secs_f32();
            for d in sender.datagrams(pose, &rest, t) {
                match socket.send_to(&d, to) {
                    Ok(_) => datagrams += 1,
                    // A receiver not (yet) listening: the system reports the last send's ICMP
                    // error on the next one. Counted; sending goes on.
                    Err(_) => failed += 1,
                }
            }
            frames += 1;
        }
        if !looping {
            break;
        }
    }
    eprintln!(
        "sent {frames} frames ({datagrams} datagrams{}) to {to} in {:.1} s",
        if failed > 0 {
            format!(", {failed} refused by the system")
        } else {
            String::new()
        },
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn record(seconds: f64, out: &Path, port: u16, bind: &str, vrm: Option<&Path>) -> Result<()> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds {seconds}: give a time over 0");
    }
    let at = settings::vmc_listen("vmc", bind, i64::from(port))
        .expect("asked to listen")
        .map_err(|why| anyhow!("--bind: {why}"))?;
    let rest = rest_of(vrm)?;
    let socket = UdpSocket::bind(at).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            anyhow!("port {port} is in use (another app listens there?)")
        }
        _ => anyhow!("cannot listen on {at}: {e}"),
    })?;
    // A first line once ready, for whoever starts a performer after it.
    eprintln!("listening on {at}");
    let mut receiver = Receiver::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut frames: Vec<AvatarPose> = Vec::new();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut first = None;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let applied = receiver.counts.applied;
        if receiver.datagram(&buf[..n]).is_ok() && receiver.counts.applied != applied {
            let now = Instant::now();
            let first = *first.get_or_insert(now);
            let mut pose = receiver.frame().pose_for(rest.hips());
            pose.index = frames.len() as u64;
            pose.t_ms = now.duration_since(first).as_secs_f64() * 1000.0;
            frames.push(pose);
        }
    }
    let text = serde_json::to_string(&AvatarPoseFile { frames })?;
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    let c = receiver.counts;
    eprintln!(
        "recorded {} frames on {at} ({} datagrams, {} malformed, {} messages not for the avatar)",
        c.applied, c.datagrams, c.malformed, c.ignored
    );
    Ok(())
}
