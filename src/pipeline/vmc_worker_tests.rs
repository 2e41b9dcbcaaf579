use super::*;
use glam::Quat;

fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

fn worker() -> (Arc<VmcControl>, JoinHandle<()>) {
    let ctl = VmcControl::new();
    let handle = spawn_vmc_worker(Arc::clone(&ctl)).unwrap();
    (ctl, handle)
}

fn local(port: u16) -> Option<Result<SocketAddr, String>> {
    Some(Ok(SocketAddr::from(([127, 0, 0, 1], port))))
}

/// Whether the whole of [`waving`] has come (its expression is applied with the frame's last
/// message, and datagrams on loopback keep their order).
fn waved(ctl: &VmcControl) -> bool {
    ctl.latest(Instant::now())
        .is_some_and(|f| f.pose.expressions.get("happy") == Some(&1.0))
}

fn waving() -> AvatarPose {
    let mut pose = AvatarPose::default();
    pose.set_rotation("rightUpperArm", Quat::from_rotation_z(1.1));
    pose.expressions.insert("happy".into(), 1.0);
    pose
}

#[test]
fn motion_sent_by_the_render_side_reaches_the_receiver_and_goes_stale() {
    let (ctl, handle) = worker();
    ctl.listen(local(0));
    assert!(until(Duration::from_secs(5), || ctl.bound().is_some()));
    let at = ctl.bound().unwrap();
    let mut out = VmcOut::default();
    let settings = VmcSendSettings {
        to: Ok(at),
        bundles: true,
    };
    out.send(&settings, &waving(), &Rest::default(), 1.0);
    assert!(until(Duration::from_secs(5), || waved(&ctl)));
    let frame = ctl.latest(Instant::now()).unwrap();
    let arm = frame.pose.rotation("rightUpperArm").unwrap();
    assert!(arm.angle_between(Quat::from_rotation_z(1.1)) < 1e-4);
    assert_eq!(frame.pose.expressions.get("happy"), Some(&1.0));
    assert!(out.status().unwrap().starts_with("sending VMC:"));
    // Silent: stale after SILENT_AFTER.
    assert!(ctl.latest(Instant::now() + SILENT_AFTER).is_none());
    // Sent for a while at 30 Hz, then not at all: the status follows.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1_500) {
        out.send(&settings, &waving(), &Rest::default(), 1.0);
        thread::sleep(Duration::from_millis(33));
    }
    let status = ctl.status();
    assert!(
        status.starts_with(&format!("receiving VMC on {at} from 127.0.0.1:")),
        "{status}"
    );
    assert!(status.contains("datagrams/s"), "{status}");
    assert!(
        until(Duration::from_secs(3), || ctl
            .status()
            .contains("went silent")),
        "{}",
        ctl.status()
    );
    ctl.stop();
    handle.join().unwrap();
}

#[test]
fn a_port_in_use_is_named_and_taken_when_freed() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (ctl, handle) = worker();
    ctl.listen(local(port));
    assert!(
        until(Duration::from_secs(5), || ctl.status().contains("in use")),
        "{}",
        ctl.status()
    );
    assert!(
        ctl.status().starts_with("error: VMC port"),
        "{}",
        ctl.status()
    );
    drop(taken);
    assert!(
        until(Duration::from_secs(5), || ctl.bound().map(|a| a.port())
            == Some(port)),
        "{}",
        ctl.status()
    );
    // A setting that is not an address is named too, and stops listening.
    ctl.listen(Some(Err("'nowhere' is not an IP address".into())));
    assert!(until(Duration::from_secs(5), || ctl.status()
        == "error: VMC: 'nowhere' is not an IP address"));
    assert_eq!(ctl.bound(), None);
    ctl.listen(None);
    assert!(until(Duration::from_secs(5), || ctl.status()
        == "not listening for VMC"));
    ctl.stop();
    handle.join().unwrap();
}

#[test]
fn garbage_at_a_high_rate_changes_nothing_and_good_motion_still_comes_through() {
    let (ctl, handle) = worker();
    ctl.listen(local(0));
    assert!(until(Duration::from_secs(5), || ctl.bound().is_some()));
    let at = ctl.bound().unwrap();
    let mut out = VmcOut::default();
    let settings = VmcSendSettings {
        to: Ok(at),
        bundles: false,
    };
    out.send(&settings, &waving(), &Rest::default(), 0.0);
    assert!(until(Duration::from_secs(5), || waved(&ctl)));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 0x1234_5678_u64;
    let mut random = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seq = ctl.seq();
    for i in 0..5_000 {
        let len = (random() % 2_000) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| random() as u8).collect();
        // Every third one reads as a bone message with three of its seven floats.
        if i % 3 == 0 {
            d = b"/VMC/Ext/Bone/Pos\0\0\0,sfffffff\0\0\0Head\0\0\0\0".to_vec();
            d.extend((0..12).map(|_| random() as u8));
        }
        let _ = socket.send_to(&d, at);
    }
    // Let the worker read what the socket kept, then check nothing moved.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(ctl.seq(), seq, "garbage moved the avatar");
    assert!(
        until(Duration::from_secs(3), || ctl
            .status()
            .contains("malformed refused")),
        "{}",
        ctl.status()
    );
    out.send(&settings, &AvatarPose::default(), &Rest::default(), 1.0);
    assert!(until(Duration::from_secs(5), || ctl
        .latest(Instant::now())
        .is_some_and(
            |f| f.pose.rotation("rightUpperArm") == Some(Quat::IDENTITY)
        )));
    ctl.stop();
    handle.join().unwrap();
}

#[test]
fn an_expression_that_leaves_the_pose_is_sent_once_at_zero() {
    let (ctl, handle) = worker();
    ctl.listen(local(0));
    assert!(until(Duration::from_secs(5), || ctl.bound().is_some()));
    let settings = VmcSendSettings {
        to: Ok(ctl.bound().unwrap()),
        bundles: true,
    };
    let mut out = VmcOut::default();
    out.send(&settings, &waving(), &Rest::default(), 0.0);
    assert!(until(Duration::from_secs(5), || waved(&ctl)));
    out.send(&settings, &AvatarPose::default(), &Rest::default(), 0.1);
    assert!(until(Duration::from_secs(5), || ctl
        .latest(Instant::now())
        .is_some_and(|f| f.pose.expressions.get("happy") == Some(&0.0))));
    ctl.stop();
    handle.join().unwrap();
}
