use super::*;

#[test]
fn worker_renders_only_while_active_and_stops_promptly() {
    let control = RenderControl::new(128, 72, 60);
    let frames = Arc::new(Latest::default());
    let handle = spawn_render_worker(Arc::clone(&control), Arc::clone(&frames)).unwrap();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        frames.seq(),
        0,
        "nothing is rendered before the source is shown"
    );

    control.set_active(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while frames.seq() < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        frames.seq() >= 3,
        "frames arrive while active ({})",
        control.status()
    );
    assert!(
        control
            .status()
            .starts_with("rendering the built-in avatar on"),
        "{}",
        control.status()
    );

    control.set_size(64, 32);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, frame) = frames.newer_than(0).unwrap();
        if (frame.width, frame.height) == (64, 32) {
            break;
        }
        assert!(Instant::now() < deadline, "resize reaches the output");
        thread::sleep(Duration::from_millis(20));
    }

    control.set_active(false);
    thread::sleep(Duration::from_millis(200));
    let paused_at = frames.seq();
    thread::sleep(Duration::from_millis(300));
    assert!(frames.seq() <= paused_at + 1, "no frames while hidden");

    let asked = Instant::now();
    control.stop();
    handle.join().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5), "stop is prompt");
}

#[test]
fn tracked_landmarks_move_the_avatar_and_carry_the_cameras_time() {
    use crate::pipeline::tracking_worker::{
        TrackingControl, spawn_tracking_worker, tests::portrait,
    };
    use crate::tracking::holistic::TrackingMode;
    let tracking = TrackingControl::new(TrackingMode::Face);
    let tracker = spawn_tracking_worker(Arc::clone(&tracking), None).unwrap();
    let control = RenderControl::new(160, 90, 30);
    control.set_tracking(Some(Arc::clone(&tracking)));
    let frames = Arc::new(Latest::default());
    let handle = spawn_render_worker(Arc::clone(&control), Arc::clone(&frames)).unwrap();
    control.set_active(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut latency = None;
    while latency.is_none() && Instant::now() < deadline {
        if tracking.wants_frame() {
            tracking.submit(portrait());
        }
        if let Some((_, frame)) = frames.newer_than(0) {
            latency = frame.camera.map(|t| t.arrived.elapsed());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let latency = latency.expect("a frame drawn from a tracked camera frame");
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    // The camera stops: after a moment frames are drawn from idle motion again.
    thread::sleep(NOTHING_SEEN_AFTER + Duration::from_millis(500));
    let (seq, _) = frames.newer_than(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((_, frame)) = frames.newer_than(seq)
            && frame.camera.is_none()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle again without camera frames"
        );
        thread::sleep(Duration::from_millis(10));
    }
    control.stop();
    tracking.stop();
    handle.join().unwrap();
    tracker.join().unwrap();
}

#[test]
fn the_default_view_is_the_renderers_own_and_a_background_fills_the_frame() {
    let d = ViewSettings::default().light_direction();
    let r = crate::render::avatar::Lighting::default().direction;
    assert!(d.angle_between(r) < 0.01, "{d} vs {r}");
    let control = RenderControl::new(64, 36, 30);
    control.set_view(ViewSettings {
        background: Some([0, 128, 255]),
        full_body: true,
        ..ViewSettings::default()
    });
    let frames = Arc::new(Latest::default());
    let handle = spawn_render_worker(Arc::clone(&control), Arc::clone(&frames)).unwrap();
    control.set_active(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while frames.seq() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let (_, frame) = frames.newer_than(0).expect("a frame");
    assert_eq!(
        frame.pixel(0, 0),
        [0, 128, 255, 255],
        "an opaque coloured background"
    );
    control.stop();
    handle.join().unwrap();
}
