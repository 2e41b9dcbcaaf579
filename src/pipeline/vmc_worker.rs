//! VMC over UDP: a worker that listens for a performer and keeps its latest frame (the avatar
//! follows it through the mixer), and the socket the render worker sends the avatar's motion
//! from. Neither ever makes OBS wait: the owner only sets addresses.

use super::worker::{WorkerCore, spawn_guarded};
use crate::frame::CameraTimes;
use crate::pose::AvatarPose;
use crate::vmc::{MAX_DATAGRAM, Receiver, Rest, Sender, VmcFrame};
use parking_lot::Mutex;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// A performer silent this long has stopped: the avatar eases back to idle.
pub const SILENT_AFTER: Duration = Duration::from_millis(500);
/// Malformed datagrams logged per listening (then only counted, in the status).
const LOGGED_ERRORS: u32 = 5;
/// How often the worker looks at its settings while no datagram comes.
const POLL: Duration = Duration::from_millis(100);

/// What the owner of a VMC worker sets and reads.
pub struct VmcControl {
    core: WorkerCore,
    /// Where to listen (None: not at all), or why the setting is unusable.
    wanted: Mutex<Option<Result<SocketAddr, String>>>,
    asked: AtomicU64,
    /// The performer's avatar, when it came, and how many frames were complete then.
    latest: Mutex<Option<(VmcFrame, Instant, u64)>>,
    /// Bumped with every datagram that moved the avatar.
    seq: AtomicU64,
    /// Bumped with every complete frame (a datagram with `/VMC/Ext/Blend/Apply`).
    frames: AtomicU64,
    /// The address listened on now.
    bound: Mutex<Option<SocketAddr>>,
    /// Threads to unpark when a frame is complete (the render worker).
    listeners: Mutex<Vec<Thread>>,
}

impl VmcControl {
    pub fn new() -> Arc<Self> {
        Arc::new(VmcControl {
            core: WorkerCore::new("not listening for VMC"),
            wanted: Mutex::new(None),
            asked: AtomicU64::new(0),
            latest: Mutex::new(None),
            seq: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            bound: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// Listens at `at` (None: stops listening). A change rebinds at once; the same address
    /// changes nothing.
    pub fn listen(&self, at: Option<Result<SocketAddr, String>>) {
        let mut wanted = self.wanted.lock();
        if *wanted != at {
            *wanted = at;
            self.asked.fetch_add(1, Ordering::AcqRel);
            self.core.asked_anew();
        }
    }

    /// Whether the settings ask to listen (at a usable address or not).
    pub fn is_wanted(&self) -> bool {
        self.wanted.lock().is_some()
    }

    /// The performer's avatar, unless it has been silent for [`SILENT_AFTER`].
    pub fn latest(&self, now: Instant) -> Option<VmcFrame> {
        self.latest_at(now).map(|(frame, _, _)| frame)
    }

    /// [`Self::latest`], when it came, and the number of complete frames then.
    pub fn latest_at(&self, now: Instant) -> Option<(VmcFrame, Instant, u64)> {
        let latest = self.latest.lock();
        let (frame, at, number) = latest.as_ref()?;
        (now.saturating_duration_since(*at) < SILENT_AFTER).then(|| (frame.clone(), *at, *number))
    }

    /// Complete frames received (see [`Self::wake_me_on_frames`]).
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Changes with every datagram that moved the avatar (the render worker draws it at once).
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Unparks the calling thread whenever a frame is complete (a datagram with
    /// `/VMC/Ext/Blend/Apply`, which performers send last in each frame).
    pub fn wake_me_on_frames(&self) {
        let me = thread::current();
        let mut listeners = self.listeners.lock();
        if !listeners.iter().any(|t| t.id() == me.id()) {
            listeners.push(me);
        }
    }

    /// The address listened on now (with the port the system chose for port 0).
    pub fn bound(&self) -> Option<SocketAddr> {
        *self.bound.lock()
    }

    pub fn status(&self) -> String {
        self.core.status()
    }

    /// Asks the worker to finish; returns at once (it sees it within [`POLL`]).
    pub fn stop(&self) {
        self.core.stop();
    }
}

/// Starts a VMC worker; it stops when [`VmcControl::stop`] is called.
pub fn spawn_vmc_worker(control: Arc<VmcControl>) -> std::io::Result<JoinHandle<()>> {
    spawn_guarded("vrm-avatar-vmc", "VMC receiver", control, |c| &c.core, run)
}

fn run(ctl: &VmcControl) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !ctl.core.stopped() {
        let asked = ctl.asked.load(Ordering::Acquire);
        let wanted = ctl.wanted.lock().clone();
        let at = match wanted {
            None => {
                ctl.core.set_status("not listening for VMC".into());
                *ctl.latest.lock() = None;
                thread::park_timeout(Duration::from_secs(1));
                continue;
            }
            Some(Err(why)) => {
                ctl.core.set_status(format!("error: VMC: {why}"));
                *ctl.latest.lock() = None;
                thread::park_timeout(Duration::from_secs(1));
                continue;
            }
            Some(Ok(at)) => at,
        };
        let socket = match UdpSocket::bind(at).and_then(|s| {
            s.set_read_timeout(Some(POLL))?;
            Ok(s)
        }) {
            Ok(socket) => socket,
            Err(err) => {
                let why = if err.kind() == std::io::ErrorKind::AddrInUse {
                    format!("port {} is in use (another app listens there?)", at.port())
                } else {
                    format!("cannot listen on {at}: {err}")
                };
                if !ctl.core.status().ends_with(&why) {
                    log::warn!("VMC: {why}; trying again every 2 s");
                }
                ctl.core.set_status(format!("error: VMC {why}"));
                wait_for_change(ctl, asked, Duration::from_secs(2));
                continue;
            }
        };
        let at = socket.local_addr().unwrap_or(at);
        log::info!("VMC: listening on {at}");
        ctl.core.set_status(format!("listening for VMC on {at}"));
        *ctl.bound.lock() = Some(at);
        listen(ctl, &socket, at, asked, &mut buf);
        *ctl.bound.lock() = None;
        *ctl.latest.lock() = None;
    }
}

/// Parks until the settings change or `wait` passes.
fn wait_for_change(ctl: &VmcControl, asked: u64, wait: Duration) {
    let deadline = Instant::now() + wait;
    while !ctl.core.stopped() && ctl.asked.load(Ordering::Acquire) == asked {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::park_timeout(deadline - now);
    }
}

/// Receives until the settings change or the worker stops.
fn listen(ctl: &VmcControl, socket: &UdpSocket, at: SocketAddr, asked: u64, buf: &mut [u8]) {
    let mut receiver = Receiver::new();
    let mut logged = 0;
    let mut from = None;
    let mut window = (Instant::now(), receiver.counts.datagrams);
    let mut last_moved: Option<Instant> = None;
    while !ctl.core.stopped() && ctl.asked.load(Ordering::Acquire) == asked {
        match socket.recv_from(buf) {
            Ok((n, sender)) => {
                super::worker::inject_test_panic("vmc_worker");
                from = Some(sender);
                if last_moved.is_some_and(|t| t.elapsed() >= SILENT_AFTER) {
                    // The performer went silent: whoever sends next starts afresh.
                    receiver.forget();
                    last_moved = None;
                }
                let applied = receiver.counts.applied;
                match receiver.datagram(&buf[..n]) {
                    Ok(true) => {
                        let now = Instant::now();
                        last_moved = Some(now);
                        let complete = receiver.counts.applied != applied;
                        let number = ctl.frames() + u64::from(complete);
                        *ctl.latest.lock() = Some((receiver.frame(), now, number));
                        ctl.frames.store(number, Ordering::Release);
                        ctl.seq.fetch_add(1, Ordering::AcqRel);
                        if complete {
                            for listener in ctl.listeners.lock().iter() {
                                listener.unpark();
                            }
                        }
                    }
                    Ok(false) => {}
                    Err(err) => {
                        if logged < LOGGED_ERRORS {
                            log::warn!("VMC: refused a datagram from {sender}: {err}");
                        } else if logged == LOGGED_ERRORS {
                            log::warn!(
                                "VMC: further refused datagrams are counted in the status, not logged"
                            );
                        }
                        logged += 1;
                    }
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(err) => {
                // Linux reports an ICMP error of an earlier send here; receiving goes on.
                log::debug!("VMC: {err}");
            }
        }
        let now = Instant::now();
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            let seconds = now.duration_since(window.0).as_secs_f64();
            let rate = (receiver.counts.datagrams - window.1) as f64 / seconds;
            window = (now, receiver.counts.datagrams);
            ctl.core.set_status(summary(
                at,
                from,
                rate,
                &receiver,
                ctl.latest(now).is_some(),
            ));
        }
    }
}

/// "receiving VMC on ADDR from PEER: 60 datagrams/s; 3 refused".
fn summary(
    at: SocketAddr,
    from: Option<SocketAddr>,
    rate: f64,
    receiver: &Receiver,
    moving: bool,
) -> String {
    let mut line = match (from, moving) {
        (Some(from), true) => format!("receiving VMC on {at} from {from}: {rate:.0} datagrams/s"),
        (Some(from), false) => format!("listening for VMC on {at}; {from} went silent"),
        (None, _) => format!("listening for VMC on {at}; nothing received yet"),
    };
    if receiver.loaded() == Some(false) {
        line.push_str("; the sender has no avatar loaded");
    }
    if receiver.counts.malformed > 0 {
        line.push_str(&format!(
            "; {} malformed refused",
            receiver.counts.malformed
        ));
    }
    line
}

/// Where and how the avatar's motion goes out as VMC.
#[derive(Debug, Clone, PartialEq)]
pub struct VmcSendSettings {
    pub to: Result<SocketAddr, String>,
    pub bundles: bool,
}

/// The render worker's VMC output: a socket made on first use (and made again, with fresh
/// counts, when the settings change), datagrams sent without waiting (a full buffer drops
/// them), errors counted and logged a few times.
#[derive(Default)]
pub struct VmcOut {
    socket: Option<UdpSocket>,
    settings: Option<VmcSendSettings>,
    sent: u64,
    failed: u64,
    last_error: Option<String>,
    /// Expressions sent above zero: one that leaves the pose is sent once at zero, so that
    /// receivers do not keep its last value.
    shown: std::collections::BTreeSet<String>,
}

impl VmcOut {
    /// Sends `pose` of an avatar at `rest` per `settings`.
    pub fn send(&mut self, settings: &VmcSendSettings, pose: &AvatarPose, rest: &Rest, t_s: f32) {
        if self.settings.as_ref() != Some(settings) {
            *self = VmcOut {
                settings: Some(settings.clone()),
                ..VmcOut::default()
            };
        }
        let Ok(to) = settings.to else {
            return;
        };
        if self.socket.is_none() {
            let any: SocketAddr = if to.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            match UdpSocket::bind(any).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
                Ok(socket) => self.socket = Some(socket),
                Err(err) => {
                    self.failed += 1;
                    self.error(format!("cannot make a socket: {err}"));
                    return;
                }
            }
        }
        let gone: Vec<String> = self
            .shown
            .iter()
            .filter(|name| !pose.expressions.contains_key(*name))
            .cloned()
            .collect();
        let pose = if gone.is_empty() {
            std::borrow::Cow::Borrowed(pose)
        } else {
            let mut pose = pose.clone();
            pose.expressions
                .extend(gone.into_iter().map(|name| (name, 0.0)));
            std::borrow::Cow::Owned(pose)
        };
        self.shown = pose
            .expressions
            .iter()
            .filter(|(_, w)| **w > 0.0)
            .map(|(name, _)| name.clone())
            .collect();
        let sender = Sender {
            bundles: settings.bundles,
        };
        for datagram in sender.datagrams(&pose, rest, t_s) {
            let Some(socket) = &self.socket else { return };
            match socket.send_to(&datagram, to) {
                Ok(_) => self.sent += 1,
                Err(err) => {
                    self.failed += 1;
                    self.error(format!("sending to {to}: {err}"));
                }
            }
        }
    }

    fn error(&mut self, why: String) {
        if self.failed <= LOGGED_ERRORS as u64 && self.last_error.as_ref() != Some(&why) {
            log::warn!("VMC out: {why}");
        }
        self.last_error = Some(why);
    }

    /// "sending VMC: N datagrams (M failed: why)".
    pub fn status(&self) -> Option<String> {
        (self.sent + self.failed > 0).then(|| match &self.last_error {
            Some(why) if self.failed > 0 => format!(
                "sending VMC: {} datagrams sent, {} failed ({why})",
                self.sent, self.failed
            ),
            _ => format!("sending VMC: {} datagrams sent", self.sent),
        })
    }
}

/// The render worker's side of VMC: the performer's frames in, with when the newest came for
/// the first drawing of it, and the avatar's motion out.
#[derive(Default)]
pub struct VmcLink {
    out: VmcOut,
    seen: u64,
    drawn: u64,
}

impl VmcLink {
    /// The performer's pose for an avatar at `rest` (None while none sends), and its arrival
    /// when it has not been drawn yet.
    pub fn incoming(
        &mut self,
        input: Option<&VmcControl>,
        now: Instant,
        rest: &Rest,
    ) -> (Option<AvatarPose>, Option<CameraTimes>) {
        let Some(input) = input else {
            return (None, None);
        };
        input.wake_me_on_frames();
        let Some((frame, at, number)) = input.latest_at(now) else {
            self.seen = input.frames();
            return (None, None);
        };
        self.seen = number;
        let times = (number != self.drawn).then_some(CameraTimes {
            arrived: at,
            tracked: at,
            from_vmc: true,
        });
        (Some(frame.pose_for(rest.hips())), times)
    }

    /// A frame was drawn carrying `times` (from [`Self::incoming`]).
    pub fn drawn(&mut self, times: Option<CameraTimes>) {
        if times.is_some() {
            self.drawn = self.seen;
        }
    }

    /// Whether a complete frame came since [`Self::incoming`] last looked (frames still
    /// coming in pieces are drawn when complete, or at the next frame's time).
    pub fn has_new(&self, input: Option<&VmcControl>) -> bool {
        input.is_some_and(|v| v.frames() != self.seen)
    }

    /// Sends `pose`; how sending goes.
    pub fn send(
        &mut self,
        settings: &VmcSendSettings,
        pose: &AvatarPose,
        rest: &Rest,
        t_s: f32,
    ) -> Option<String> {
        self.out.send(settings, pose, rest, t_s);
        self.out.status()
    }
}

#[cfg(test)]
#[path = "vmc_worker_tests.rs"]
mod tests;
