use super::*;
use rosc::{OscBundle, OscTime, encoder};
use std::f32::consts::FRAC_PI_2;

fn msg(addr: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    })
}

fn bytes(packet: &OscPacket) -> Vec<u8> {
    encoder::encode(packet).unwrap()
}

fn bundle(content: Vec<OscPacket>) -> Vec<u8> {
    bytes(&OscPacket::Bundle(OscBundle {
        timetag: OscTime::from((0, 1)),
        content,
    }))
}

/// `/VMC/Ext/Bone/Pos` (or Root) with a Unity position and rotation.
fn transform(addr: &str, name: &str, p: [f32; 3], q: Quat) -> OscPacket {
    let mut args = vec![OscType::String(name.into())];
    args.extend(p.map(OscType::Float));
    args.extend(q.to_array().map(OscType::Float));
    msg(addr, args)
}

fn blend(name: &str, value: f32) -> OscPacket {
    msg(
        "/VMC/Ext/Blend/Val",
        vec![OscType::String(name.into()), OscType::Float(value)],
    )
}

#[test]
fn bones_arrive_in_the_pose_space_by_vrm_names() {
    let mut r = Receiver::new();
    // Unity: the left arm lowered is Euler(0, 0, 90).
    let lowered = Quat::from_rotation_z(FRAC_PI_2);
    let moved = r
        .datagram(&bytes(&transform(
            "/VMC/Ext/Bone/Pos",
            "LeftUpperArm",
            [0.0; 3],
            lowered,
        )))
        .unwrap();
    assert!(moved);
    let pose = r.frame().pose;
    let arm = pose.rotation("leftUpperArm").unwrap();
    // The pose's left arm points +X at rest; lowered, it points down.
    assert!((arm * Vec3::X - Vec3::NEG_Y).length() < 1e-5, "{arm}");
    assert_eq!(pose.bones.len(), 1);
}

#[test]
fn the_root_is_folded_into_the_hips() {
    let mut r = Receiver::new();
    let turn = Quat::from_rotation_y(FRAC_PI_2);
    let datagram = bundle(vec![
        transform("/VMC/Ext/Root/Pos", "root", [1.0, 0.0, 0.0], turn),
        transform("/VMC/Ext/Bone/Pos", "Hips", [0.0, 0.9, 0.1], Quat::IDENTITY),
    ]);
    assert!(r.datagram(&datagram).unwrap());
    let frame = r.frame();
    // Unity root at +1 X is the pose's -1 X; the root's quarter turn (Unity +Y) takes the
    // hips' +Z offset (0.1) to Unity +X, the pose's -X.
    let at = frame.hips_position.unwrap();
    assert!((at - Vec3::new(-1.1, 0.9, 0.0)).length() < 1e-5, "{at}");
    let hips = frame.pose.rotation("hips").unwrap();
    assert!(hips.angle_between(rotation_from_unity(turn)) < 1e-5);
    // Standing where the avatar's rest puts its hips: no offset but the root's.
    let pose = frame.pose_for(Some(Vec3::new(0.0, 0.9, 0.0)));
    let offset = pose.hips_offset();
    assert!(
        (offset - Vec3::new(-1.1, 0.0, 0.0)).length() < 1e-5,
        "{offset}"
    );
}

#[test]
fn blend_shapes_wait_for_apply_and_keep_their_names() {
    let mut r = Receiver::new();
    let first = bundle(vec![
        blend("A", 0.8),
        blend("Joy", 1.0),
        blend("JawOpen", 0.3),
    ]);
    assert!(!r.datagram(&first).unwrap(), "values wait for Apply");
    assert!(r.frame().pose.expressions.is_empty());
    assert!(
        r.datagram(&bytes(&msg("/VMC/Ext/Blend/Apply", vec![])))
            .unwrap()
    );
    let e = r.frame().pose.expressions;
    assert_eq!(e.get("aa"), Some(&0.8));
    assert_eq!(e.get("happy"), Some(&1.0));
    assert_eq!(e.get("JawOpen"), Some(&0.3));
    // A later frame changes what it names; the rest stays as it was.
    r.datagram(&bundle(vec![
        blend("A", 0.0),
        blend("Surprised", 2.0),
        msg("/VMC/Ext/Blend/Apply", vec![]),
    ]))
    .unwrap();
    let e = r.frame().pose.expressions;
    assert_eq!(e.get("aa"), Some(&0.0));
    assert_eq!(e.get("surprised"), Some(&1.0), "clamped to 1");
    assert_eq!(e.get("happy"), Some(&1.0));
}

#[test]
fn status_time_and_other_addresses() {
    let mut r = Receiver::new();
    r.datagram(&bundle(vec![
        msg("/VMC/Ext/OK", vec![OscType::Int(1)]),
        msg("/VMC/Ext/T", vec![OscType::Float(3.25)]),
        msg("/VMC/Ext/Cam", vec![OscType::String("Camera".into())]),
        transform("/VMC/Ext/Bone/Pos", "Tail", [0.0; 3], Quat::IDENTITY),
    ]))
    .unwrap();
    assert_eq!(r.loaded(), Some(true));
    assert_eq!(r.time(), Some(3.25));
    assert_eq!(r.counts.ignored, 2);
    assert_eq!(r.counts.malformed, 0);
    r.datagram(&bytes(&msg("/VMC/Ext/OK", vec![OscType::Int(0)])))
        .unwrap();
    assert_eq!(r.loaded(), Some(false));
}

#[test]
fn wrongly_typed_messages_change_nothing_and_are_counted() {
    let mut r = Receiver::new();
    let good = transform(
        "/VMC/Ext/Bone/Pos",
        "Head",
        [0.0; 3],
        Quat::from_rotation_x(0.3),
    );
    r.datagram(&bytes(&good)).unwrap();
    let before = r.frame();
    let bad = [
        msg("/VMC/Ext/Bone/Pos", vec![OscType::String("Head".into())]),
        msg("/VMC/Ext/Bone/Pos", vec![OscType::Int(3); 8]),
        transform(
            "/VMC/Ext/Bone/Pos",
            "Head",
            [f32::NAN, 0.0, 0.0],
            Quat::IDENTITY,
        ),
        transform(
            "/VMC/Ext/Bone/Pos",
            "Head",
            [0.0; 3],
            Quat::from_xyzw(0.0, 0.0, 0.0, 0.0),
        ),
        msg("/VMC/Ext/Blend/Val", vec![OscType::Float(1.0)]),
        msg(
            "/VMC/Ext/Blend/Val",
            vec![OscType::String("A".into()), OscType::String("1".into())],
        ),
        msg(
            "/VMC/Ext/Blend/Val",
            vec![OscType::String("x".repeat(500)), OscType::Float(1.0)],
        ),
        msg("/VMC/Ext/T", vec![]),
    ];
    for packet in &bad {
        assert!(r.datagram(&bytes(packet)).is_err(), "{packet:?}");
    }
    r.datagram(&bytes(&msg("/VMC/Ext/Blend/Apply", vec![])))
        .unwrap();
    assert_eq!(r.frame(), before);
    assert_eq!(r.counts.malformed, bad.len() as u64);
    for garbage in [
        &b"\x00\x01garbage"[..],
        b"#bundle\0\0\0",
        b"/VMC/Ext/T\0\0,f\0\0",
    ] {
        assert!(r.datagram(garbage).is_err());
    }
    assert_eq!(r.frame(), before);
}

#[test]
fn a_flood_of_new_names_is_bounded() {
    let mut r = Receiver::new();
    for i in 0..2_000 {
        let _ = r.datagram(&bytes(&blend(&format!("shape{i}"), 0.5)));
        if i % 100 == 0 {
            r.datagram(&bytes(&msg("/VMC/Ext/Blend/Apply", vec![])))
                .unwrap();
        }
    }
    r.datagram(&bytes(&msg("/VMC/Ext/Blend/Apply", vec![])))
        .unwrap();
    assert_eq!(r.frame().pose.expressions.len(), MAX_BLENDS);
}

#[test]
fn a_bundle_with_one_bad_message_is_refused_whole() {
    let mut r = Receiver::new();
    let raised = transform(
        "/VMC/Ext/Bone/Pos",
        "Head",
        [0.0; 3],
        Quat::from_rotation_x(0.5),
    );
    // An integer where a float belongs.
    let wrong = msg(
        "/VMC/Ext/Bone/Pos",
        [OscType::String("Spine".into())]
            .into_iter()
            .chain(std::iter::repeat_n(OscType::Int(1), 7))
            .collect(),
    );
    let apply = msg("/VMC/Ext/Blend/Apply", vec![]);
    assert!(
        r.datagram(&bundle(vec![raised.clone(), wrong, apply.clone()]))
            .is_err()
    );
    assert_eq!(r.frame(), VmcFrame::default());
    assert_eq!(r.counts.applied, 0);
    assert!(r.datagram(&bundle(vec![raised, apply])).unwrap());
    assert_eq!(r.frame().pose.bones.len(), 1);
}

#[test]
fn a_forgotten_performer_leaves_nothing_behind() {
    let mut r = Receiver::new();
    r.datagram(&bundle(vec![
        transform(
            "/VMC/Ext/Bone/Pos",
            "Head",
            [0.0; 3],
            Quat::from_rotation_x(0.5),
        ),
        blend("Joy", 1.0),
        msg("/VMC/Ext/Blend/Apply", vec![]),
    ]))
    .unwrap();
    r.forget();
    assert_eq!(r.frame(), VmcFrame::default());
    assert_eq!(r.counts.applied, 1, "the counts stay");
    // The next performer's frame is only its own.
    r.datagram(&bytes(&msg("/VMC/Ext/Blend/Apply", vec![])))
        .unwrap();
    assert_eq!(r.frame(), VmcFrame::default());
}

#[test]
fn a_bundle_whose_element_does_not_decode_is_refused_whole() {
    let mut r = Receiver::new();
    let good = bytes(&transform(
        "/VMC/Ext/Bone/Pos",
        "Head",
        [0.0; 3],
        Quat::from_rotation_x(0.5),
    ));
    // A Bone/Pos with its floats cut short, in an element of the right size.
    let mut cut = bytes(&transform(
        "/VMC/Ext/Bone/Pos",
        "Spine",
        [0.0; 3],
        Quat::IDENTITY,
    ));
    cut.truncate(cut.len() - 8);
    let mut datagram = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
    for element in [&good, &cut] {
        datagram.extend_from_slice(&(element.len() as u32).to_be_bytes());
        datagram.extend_from_slice(element);
    }
    assert!(r.datagram(&datagram).is_err());
    assert_eq!(r.frame(), VmcFrame::default());
}

#[test]
fn numbers_too_large_to_be_a_pose_are_refused() {
    let mut r = Receiver::new();
    for (p, q) in [
        ([0.0, 1e30, 0.0], Quat::IDENTITY),
        ([0.0; 3], Quat::from_xyzw(3e19, 0.0, 0.0, 1.0)),
        ([0.0, 0.0, f32::INFINITY], Quat::IDENTITY),
    ] {
        assert!(
            r.datagram(&bytes(&transform("/VMC/Ext/Bone/Pos", "Head", p, q)))
                .is_err()
        );
    }
    assert_eq!(r.frame(), VmcFrame::default());
}
