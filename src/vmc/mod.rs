//! The VMC protocol (Virtual Motion Capture: OSC 1.0 over UDP, protocol.vmc.info): what a
//! performer (a tracker) sends and a marionette (a renderer) receives. [`Receiver`] turns
//! datagrams into a [`VmcFrame`]; [`Sender`] turns an avatar pose into datagrams. No sockets
//! here: the pipeline's VMC worker and the render worker own those.
//!
//! Space: VMC carries Unity's left-handed, +Y up coordinates, with the avatar facing +Z and its
//! left hand towards -X; the avatar pose is VRM 1.0's normalized space (glTF's right-handed,
//! +Y up, facing +Z, its left hand towards +X). The two differ by a mirror of X, so a position
//! maps as `(x, y, z) -> (-x, y, z)` and a rotation as `(x, y, z, w) -> (x, -y, -z, w)` (the
//! rotation's axis mirrors as a pseudovector and its angle turns round), both ways; this is
//! UniVRM's `ReverseX`, the conversion it applies between VRM 1.0 files and Unity.

mod names;
mod receive;
mod send;
mod wire;

pub use names::{blend_of_expression, bone_of_unity, expression_of_blend, unity_name};
pub use receive::{Receiver, VmcFrame};
pub use send::{Rest, Sender};
pub use wire::{MAX_DATAGRAM, WireError};

use glam::{Quat, Vec3};

/// The marionette's port (it receives motion there).
pub const MARIONETTE_PORT: u16 = 39539;
/// The performer's port (a marionette answers there).
pub const PERFORMER_PORT: u16 = 39540;

/// A Unity position in the avatar pose's space (and back: the mirror is its own inverse).
pub fn position_from_unity(p: Vec3) -> Vec3 {
    Vec3::new(-p.x, p.y, p.z)
}

/// A Unity rotation in the avatar pose's space (and back).
pub fn rotation_from_unity(q: Quat) -> Quat {
    Quat::from_xyzw(q.x, -q.y, -q.z, q.w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::FRAC_PI_2;

    fn close(a: Vec3, b: Vec3) -> bool {
        (a - b).length() < 1e-5
    }

    /// Unity's conventions, as its documentation states them: `Quaternion.Euler(0, 0, 90) *
    /// Vector3.right == Vector3.up`, `Quaternion.Euler(0, 90, 0) * Vector3.forward ==
    /// Vector3.right`, `Quaternion.Euler(90, 0, 0) * Vector3.forward == Vector3.down` (the same
    /// arithmetic as glam's; only the handedness of the picture differs). An avatar facing +Z
    /// has its left hand at Unity's -X and at the pose's +X.
    #[test]
    fn unity_motions_keep_their_meaning_in_the_pose_space() {
        let unity_left = Vec3::NEG_X;
        let pose_left = position_from_unity(unity_left);
        assert_eq!(
            pose_left,
            Vec3::X,
            "the avatar's left is +X in the pose space"
        );
        // The left arm lowered in Unity: Euler(0, 0, 90) takes -X (the arm) to -Y.
        let lowered = Quat::from_rotation_z(FRAC_PI_2);
        assert!(close(lowered * unity_left, Vec3::NEG_Y));
        assert!(close(rotation_from_unity(lowered) * pose_left, Vec3::NEG_Y));
        // The head turned to the avatar's left: in Unity Euler(0, -90, 0) takes forward (+Z)
        // to -X, its left; in the pose space the same turn takes +Z to +X.
        let turned = Quat::from_rotation_y(-FRAC_PI_2);
        assert!(close(turned * Vec3::Z, unity_left));
        assert!(close(rotation_from_unity(turned) * Vec3::Z, pose_left));
        // Nodding down: Euler(90, 0, 0) takes forward to down in both.
        let nod = Quat::from_rotation_x(FRAC_PI_2);
        assert!(close(nod * Vec3::Z, Vec3::NEG_Y));
        assert!(close(rotation_from_unity(nod) * Vec3::Z, Vec3::NEG_Y));
        // Positions and rotations together: a rotated point maps as the rotation maps.
        let q = Quat::from_euler(glam::EulerRot::YXZ, 0.3, -0.7, 1.1);
        let p = Vec3::new(0.2, -0.5, 0.9);
        assert!(close(
            position_from_unity(q * p),
            rotation_from_unity(q) * position_from_unity(p)
        ));
        // Both ways.
        assert_eq!(rotation_from_unity(rotation_from_unity(q)), q);
        assert_eq!(position_from_unity(position_from_unity(p)), p);
    }
}
