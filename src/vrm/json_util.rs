//! Small helpers for reading the VRM extension JSON leniently but safely.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Result, VrmError};

/// Deserializes a section; a missing section is its `Default`. Errors name the section.
pub(crate) fn section<T: DeserializeOwned + Default>(
    value: Option<&Value>,
    name: &str,
) -> Result<T> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v).map_err(|e| VrmError::Json(format!("{name}: {e}"))),
    }
}

/// An index that VRM 0.x exporters may write as -1 (none), as a float (`3.0`) or leave out.
pub(crate) fn lenient_index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(index_of))
}

/// A non-negative integral JSON number as an index; anything else is "none".
pub(crate) fn index_of(v: &Value) -> Option<usize> {
    if let Some(u) = v.as_u64() {
        return usize::try_from(u).ok();
    }
    let f = v.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f < 1e15).then_some(f as usize)
}

/// Checks that `index` refers to one of `len` items.
pub(crate) fn check(index: usize, len: usize, what: &str) -> Result<usize> {
    if index < len {
        Ok(index)
    } else {
        Err(VrmError::Invalid(format!(
            "{what} refers to index {index}, but there are only {len}"
        )))
    }
}

/// A `{x, y, z}` object of VRM 0.x.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Xyz {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

impl Xyz {
    pub fn array(self) -> [f32; 3] {
        [self.x, self.y, self.z]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_indices() {
        assert_eq!(index_of(&json!(3)), Some(3));
        assert_eq!(index_of(&json!(3.0)), Some(3));
        assert_eq!(index_of(&json!(-1)), None);
        assert_eq!(index_of(&json!(2.5)), None);
        assert_eq!(index_of(&json!("3")), None);
    }

    #[test]
    fn check_names_the_reference() {
        assert_eq!(check(1, 2, "x").unwrap(), 1);
        let e = check(5, 2, "spring 0 joint 1 node")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("spring 0 joint 1 node refers to index 5, but there are only 2"),
            "{e}"
        );
    }
}
