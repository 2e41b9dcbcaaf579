//! A quick look at a sound file for the control API's `Speak`: what kind it is by its first
//! bytes (a model, a picture or a text is refused before anything plays), and a WAV file's
//! length from its header.

use std::io::Read;
use std::path::Path;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundKind {
    Wav,
    Mp3,
    Ogg,
    Flac,
    /// MP4 / M4A (AAC).
    Mp4,
}

/// The kind of sound in `path` and, for WAV, its length in milliseconds; one sentence when it
/// is not a sound file or cannot be read.
pub fn probe_sound(path: &Path) -> Result<(SoundKind, Option<f64>), String> {
    let shown = path.display();
    let mut file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    if !file
        .metadata()
        .map_err(|e| format!("{shown}: {e}"))?
        .is_file()
    {
        return Err(format!("{shown} is not a regular file"));
    }
    let mut head = Vec::with_capacity(4096);
    file.by_ref()
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| format!("{shown}: {e}"))?;
    let kind = kind_of(&head).ok_or_else(|| match head.get(..4) {
        Some(b"glTF") => format!("{shown} is a 3D model (glTF/VRM), not sound"),
        _ if head.is_empty() => format!("{shown} is empty"),
        _ => format!("{shown} is not a sound file (WAV, MP3, Ogg, FLAC or M4A)"),
    })?;
    let duration = match kind {
        SoundKind::Wav => Some(wav_duration_ms(&head).ok_or_else(|| {
            format!("{shown}: a WAV header without a readable format and data size")
        })?),
        _ => None,
    };
    Ok((kind, duration))
}

fn kind_of(head: &[u8]) -> Option<SoundKind> {
    let at = |range: std::ops::Range<usize>| head.get(range);
    if at(0..4) == Some(b"RIFF") && at(8..12) == Some(b"WAVE") {
        return Some(SoundKind::Wav);
    }
    if at(0..4) == Some(b"OggS") {
        return Some(SoundKind::Ogg);
    }
    if at(0..4) == Some(b"fLaC") {
        return Some(SoundKind::Flac);
    }
    if at(4..8) == Some(b"ftyp") {
        return Some(SoundKind::Mp4);
    }
    if at(0..3) == Some(b"ID3") {
        return Some(SoundKind::Mp3);
    }
    // An MPEG audio frame's sync word: 11 bits set, layer bits not 00.
    match head {
        [0xFF, b, ..] if b & 0xE0 == 0xE0 && b & 0x06 != 0 => Some(SoundKind::Mp3),
        _ => None,
    }
}

/// A WAV file's length from its `fmt ` chunk (byte rate) and `data` chunk size.
fn wav_duration_ms(head: &[u8]) -> Option<f64> {
    let u32_at = |at: usize| -> Option<u32> {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12;
    let mut byte_rate = None;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32_at(at + 4)? as usize;
        match id {
            b"fmt " => byte_rate = u32_at(at + 16).filter(|r| *r > 0),
            b"data" => return Some(size as f64 * 1000.0 / f64::from(byte_rate?)),
            _ => {}
        }
        // Chunks are padded to an even size.
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: usize) -> Vec<u8> {
        let data = (samples * channels as usize * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        out.resize(out.len() + data as usize, 0);
        out
    }

    fn probe_bytes(name: &str, bytes: &[u8]) -> Result<(SoundKind, Option<f64>), String> {
        let path = std::env::temp_dir().join(format!("vrm-avatar-sound-{name}"));
        std::fs::write(&path, bytes).unwrap();
        let result = probe_sound(&path);
        let _ = std::fs::remove_file(&path);
        result
    }

    #[test]
    fn a_wav_gives_its_length_and_other_sounds_their_kind() {
        let (kind, ms) = probe_bytes("a.wav", &wav(48_000, 2, 72_000)).unwrap();
        assert_eq!((kind, ms), (SoundKind::Wav, Some(1500.0)));
        let (_, ms) = probe_bytes("b.wav", &wav(22_050, 1, 22_050)).unwrap();
        assert_eq!(ms, Some(1000.0));
        assert_eq!(
            probe_bytes("c.mp3", b"ID3\x04\0\0\0\0\0\0").unwrap(),
            (SoundKind::Mp3, None)
        );
        assert_eq!(
            probe_bytes("d.mp3", &[0xFF, 0xFB, 0x90, 0x64]).unwrap().0,
            SoundKind::Mp3
        );
        assert_eq!(
            probe_bytes("e.ogg", b"OggS\0\x02").unwrap().0,
            SoundKind::Ogg
        );
        assert_eq!(
            probe_bytes("f.m4a", b"\0\0\0\x20ftypM4A ").unwrap().0,
            SoundKind::Mp4
        );
    }

    #[test]
    fn what_is_not_sound_is_refused_with_a_reason() {
        let godette = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
        ));
        let err = probe_sound(godette).unwrap_err();
        assert!(err.contains("3D model"), "{err}");
        assert!(
            probe_bytes("g.txt", b"hello")
                .unwrap_err()
                .contains("not a sound file")
        );
        assert!(probe_bytes("h.wav", b"").unwrap_err().contains("empty"));
        assert!(
            probe_sound(Path::new("/nonexistent.wav"))
                .unwrap_err()
                .contains("/nonexistent.wav")
        );
        let mut broken = wav(48_000, 1, 100);
        broken.truncate(20);
        assert!(
            probe_bytes("i.wav", &broken)
                .unwrap_err()
                .contains("WAV header")
        );
    }
}
