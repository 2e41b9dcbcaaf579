//! Buffers: the GLB BIN chunk, base64 data URIs and files beside the model.

use std::borrow::Cow;
use std::path::Path;

use base64::Engine as _;
use gltf::json;

use crate::vrm::{Budget, Result, VrmError};

/// Bytes read from files beside the model and decoded from data URIs, against the budget.
pub(super) struct External<'b> {
    pub(super) budget: &'b Budget,
    used: u64,
}

impl<'b> External<'b> {
    pub(super) fn new(budget: &'b Budget) -> Self {
        External { budget, used: 0 }
    }

    fn charge(&mut self, bytes: u64, what: &str) -> Result<()> {
        Budget::charge(
            &mut self.used,
            bytes,
            self.budget.external_bytes,
            &format!("{what}: external files and data URIs together"),
        )
    }
}

pub(super) fn load_buffers<'a>(
    root: &json::Root,
    bin: Option<&'a [u8]>,
    base: Option<&Path>,
    external: &mut External,
) -> Result<Vec<Cow<'a, [u8]>>> {
    let mut out = Vec::with_capacity(root.buffers.len());
    for (i, buffer) in root.buffers.iter().enumerate() {
        let what = format!("buffer {i}");
        let data: Cow<[u8]> = match (&buffer.uri, bin) {
            (None, Some(bin)) if i == 0 => Cow::Borrowed(bin),
            (None, _) => {
                return Err(VrmError::Invalid(format!(
                    "{what} has no uri and there is no GLB BIN chunk"
                )));
            }
            (Some(uri), _) => Cow::Owned(read_uri(uri, base, &what, external)?.0),
        };
        let declared = buffer.byte_length.0;
        if (data.len() as u64) < declared {
            return Err(VrmError::Invalid(format!(
                "{what} holds {} bytes but declares {declared}",
                data.len()
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// Reads a data URI or a file relative to `base`; returns the bytes and the data URI's media type.
pub(super) fn read_uri(
    uri: &str,
    base: Option<&Path>,
    what: &str,
    external: &mut External,
) -> Result<(Vec<u8>, Option<String>)> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (header, payload) = rest
            .split_once(',')
            .ok_or_else(|| VrmError::Invalid(format!("{what}: malformed data URI")))?;
        let mime = header.split(';').next().map(str::to_owned);
        if !header.ends_with(";base64") {
            return Err(VrmError::Unsupported(format!(
                "{what}: data URI is not base64"
            )));
        }
        external.charge(payload.len() as u64 / 4 * 3, what)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| VrmError::Invalid(format!("{what}: bad base64 in data URI: {e}")))?;
        return Ok((bytes, mime));
    }
    let Some(base) = base else {
        return Err(VrmError::Unsupported(format!(
            "{what} refers to the external file {uri:?}; load the file from disk to resolve it"
        )));
    };
    let relative = percent_decode(uri);
    let rel_path = Path::new(&relative);
    // Only files beside the model: no absolute paths, no schemes, no climbing out.
    let escapes = rel_path.is_absolute()
        || relative.contains(':')
        || rel_path.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if escapes {
        return Err(VrmError::Unsupported(format!(
            "{what}: uri {uri:?} is not a relative path beside the model"
        )));
    }
    let path = base.join(rel_path);
    // Charged from its size before it is read: many buffers may name one large file.
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    external.charge(size, what)?;
    let bytes = super::read_bounded(&path)?;
    Ok((bytes, None))
}

/// `%20` and friends, as glTF URIs are URI-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_stay_beside_the_model() {
        let budget = Budget::default();
        let ext = &mut External::new(&budget);
        assert_eq!(percent_decode("a%20b.png"), "a b.png");
        assert_eq!(percent_decode("100%"), "100%");
        let base = Path::new("/nonexistent");
        for uri in [
            "/etc/passwd",
            "../x.bin",
            "http://example.com/x.bin",
            "a/../../x",
        ] {
            let e = read_uri(uri, Some(base), "buffer 0", ext).unwrap_err();
            assert!(matches!(e, VrmError::Unsupported(_)), "{uri}: {e}");
        }
        let e = read_uri("x.bin", None, "buffer 0", ext)
            .unwrap_err()
            .to_string();
        assert!(e.contains("external file"), "{e}");
        let (bytes, mime) =
            read_uri("data:application/octet-stream;base64,AQID", None, "b", ext).unwrap();
        assert_eq!(bytes, vec![1, 2, 3]);
        assert_eq!(mime.as_deref(), Some("application/octet-stream"));
    }
}
