//! The rotation that best turns one point set onto another (least squares, Horn 1987): the
//! unit quaternion is the dominant eigenvector of a 4x4 matrix built from the points'
//! cross-covariance. Rigid parts (a palm, the stable points of a face) are read from many
//! points at once this way, so each point's noise counts for less.

use glam::{Quat, Vec3, Vec4};

/// The rotation `q` minimizing the sum of |q * (rest_i - rest_mean) - k (seen_i - seen_mean)|^2
/// for some scale k (scale does not change the best rotation). `None` for fewer than 3 pairs
/// or points on one line.
pub fn best_rotation(rest: &[Vec3], seen: &[Vec3]) -> Option<Quat> {
    if rest.len() < 3 || rest.len() != seen.len() {
        return None;
    }
    let n = rest.len() as f32;
    let (ra, sa) = (
        rest.iter().copied().sum::<Vec3>() / n,
        seen.iter().copied().sum::<Vec3>() / n,
    );
    // S[a][b] = sum of rest_a * seen_b over the centered points.
    let mut s = [[0.0f32; 3]; 3];
    for (r, q) in rest.iter().zip(seen) {
        let (r, q) = ((*r - ra).to_array(), (*q - sa).to_array());
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += r[a] * q[b];
            }
        }
    }
    let [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = s;
    let m = [
        [xx + yy + zz, yz - zy, zx - xz, xy - yx],
        [yz - zy, xx - yy - zz, xy + yx, zx + xz],
        [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
        [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
    ];
    // Power iteration on m + shift * I: the shift (a bound on every eigenvalue's size)
    // makes the wanted eigenvalue the largest in magnitude.
    let shift: f32 = m.iter().flatten().map(|v| v.abs()).sum();
    if shift < 1e-12 {
        return None;
    }
    let mut v = Vec4::new(1.0, 0.1, 0.1, 0.1).normalize();
    for _ in 0..200 {
        let a = v.to_array();
        let mut next = [0.0f32; 4];
        for (i, row) in m.iter().enumerate() {
            next[i] = row.iter().zip(a).map(|(m, x)| m * x).sum::<f32>() + shift * a[i];
        }
        let next = Vec4::from_array(next).try_normalize()?;
        let done = (next - v).length_squared() < 1e-14;
        v = next;
        if done {
            break;
        }
    }
    // (w, x, y, z) -> glam's (x, y, z, w).
    Some(Quat::from_xyzw(v.y, v.z, v.w, v.x).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_rotation_from_scaled_shifted_points() {
        let rest = [
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(0.08, 0.0, 0.03),
            Vec3::new(0.09, 0.0, 0.0),
            Vec3::new(0.08, -0.01, -0.03),
            Vec3::new(0.02, -0.01, 0.02),
        ];
        for q in [
            Quat::from_euler(glam::EulerRot::YXZ, 0.3, -1.2, 2.5),
            Quat::from_rotation_y(3.1),
            Quat::IDENTITY,
        ] {
            let seen: Vec<Vec3> = rest
                .iter()
                .map(|p| q * *p * 250.0 + Vec3::new(5.0, -2.0, 9.0))
                .collect();
            let got = best_rotation(&rest, &seen).unwrap();
            assert!(got.dot(q).abs() > 0.99999, "{got:?} vs {q:?}");
        }
        let line = [Vec3::ZERO, Vec3::X, Vec3::X * 2.0];
        assert!(best_rotation(&line[..2], &line[..2]).is_none());
    }
}
