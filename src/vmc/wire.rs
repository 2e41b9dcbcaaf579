//! A look at a datagram's structure before the OSC decoder reads it: the decoder recurses once
//! per nested bundle and builds nested arrays that are dropped recursively, so a 64 KB datagram
//! of nested bundles or of `[[[[...` type tags could exhaust a thread's stack. VMC uses neither
//! deep bundles nor arrays, so such datagrams are refused here, cheaply and without recursion
//! deeper than [`MAX_DEPTH`].

use std::fmt;

/// The largest UDP datagram there is.
pub const MAX_DATAGRAM: usize = 65_536;
/// Bundles inside bundles at most (senders use one level; OSC allows more).
const MAX_DEPTH: usize = 4;
/// Messages one datagram may hold (a whole avatar is about 60).
const MAX_MESSAGES: usize = 2_048;

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Empty,
    TooLarge(usize),
    NotOsc,
    Truncated,
    TooDeep,
    TooManyMessages,
    Arrays,
    /// The OSC decoder's own complaint.
    Decode(String),
    /// A VMC message whose arguments are not what the protocol says (address, why).
    Arguments(String, &'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Empty => write!(f, "an empty datagram"),
            WireError::TooLarge(n) => write!(f, "a datagram of {n} bytes"),
            WireError::NotOsc => write!(f, "not OSC (neither a message nor a bundle)"),
            WireError::Truncated => write!(f, "a truncated OSC packet"),
            WireError::TooDeep => write!(f, "bundles nested over {MAX_DEPTH} deep"),
            WireError::TooManyMessages => write!(f, "over {MAX_MESSAGES} messages in one datagram"),
            WireError::Arrays => write!(f, "OSC arrays, which VMC never sends"),
            WireError::Decode(why) => write!(f, "bad OSC: {why}"),
            WireError::Arguments(address, why) => write!(f, "{address} with {why}"),
        }
    }
}

/// Checks `datagram`'s shape; the number of messages in it.
pub fn check(datagram: &[u8]) -> Result<usize, WireError> {
    if datagram.is_empty() {
        return Err(WireError::Empty);
    }
    if datagram.len() > MAX_DATAGRAM {
        return Err(WireError::TooLarge(datagram.len()));
    }
    let mut messages = 0;
    packet(datagram, 0, &mut messages)?;
    Ok(messages)
}

fn packet(bytes: &[u8], depth: usize, messages: &mut usize) -> Result<(), WireError> {
    if bytes.starts_with(b"#bundle\0") {
        if depth >= MAX_DEPTH {
            return Err(WireError::TooDeep);
        }
        // The tag and the 8-byte time tag, then elements: a 32-bit size and that many bytes.
        let mut at = 16;
        if bytes.len() < at {
            return Err(WireError::Truncated);
        }
        while at < bytes.len() {
            let size = bytes
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or(WireError::Truncated)?;
            let element = bytes
                .get(at + 4..at + 4 + size)
                .ok_or(WireError::Truncated)?;
            packet(element, depth + 1, messages)?;
            at += 4 + size;
        }
        Ok(())
    } else if bytes.first() == Some(&b'/') {
        *messages += 1;
        if *messages > MAX_MESSAGES {
            return Err(WireError::TooManyMessages);
        }
        let (_, rest) = osc_string(bytes).ok_or(WireError::Truncated)?;
        if let Some((tags, _)) = osc_string(rest)
            && tags.contains(&b'[')
        {
            return Err(WireError::Arrays);
        }
        Ok(())
    } else {
        Err(WireError::NotOsc)
    }
}

/// An OSC string (up to its NUL, padded to four bytes) and what follows it.
fn osc_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let next = (end + 4) & !3;
    Some((&bytes[..end], bytes.get(next..).unwrap_or(&[])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType, encoder};

    fn message(addr: &str, args: Vec<OscType>) -> OscPacket {
        OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        })
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut packet = message("/VMC/Ext/OK", vec![OscType::Int(1)]);
        for _ in 0..depth {
            packet = OscPacket::Bundle(OscBundle {
                timetag: OscTime::from((0, 1)),
                content: vec![packet],
            });
        }
        encoder::encode(&packet).unwrap()
    }

    #[test]
    fn messages_and_shallow_bundles_pass() {
        let one = encoder::encode(&message("/VMC/Ext/T", vec![OscType::Float(1.5)])).unwrap();
        assert_eq!(check(&one), Ok(1));
        assert_eq!(check(&nested(1)), Ok(1));
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(1));
        let empty_bundle = encoder::encode(&OscPacket::Bundle(OscBundle {
            timetag: OscTime::from((0, 1)),
            content: vec![],
        }))
        .unwrap();
        assert_eq!(check(&empty_bundle), Ok(0));
    }

    #[test]
    fn deep_bundles_arrays_and_garbage_are_refused() {
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(WireError::TooDeep));
        // Thousands of levels: refused without going deep.
        let mut deep = Vec::new();
        for level in 0..3000u32 {
            deep.extend_from_slice(b"#bundle\0\0\0\0\0\0\0\0\x01");
            // Each element runs to the end of the datagram.
            deep.extend_from_slice(&(59_980 - 20 * level).to_be_bytes());
        }
        assert_eq!(check(&deep), Err(WireError::TooDeep));
        let mut arrays = b"/VMC/Ext/T\0\0,".to_vec();
        arrays.extend(std::iter::repeat_n(b'[', 60_000));
        arrays.extend_from_slice(b"\0\0\0\0");
        assert_eq!(check(&arrays), Err(WireError::Arrays));
        assert_eq!(check(b""), Err(WireError::Empty));
        assert_eq!(check(b"hello"), Err(WireError::NotOsc));
        assert_eq!(check(b"/VMC"), Err(WireError::Truncated));
        let mut cut = nested(2);
        cut.truncate(cut.len() - 3);
        assert_eq!(check(&cut), Err(WireError::Truncated));
        assert_eq!(
            check(&vec![b'/'; MAX_DATAGRAM + 1]),
            Err(WireError::TooLarge(MAX_DATAGRAM + 1))
        );
        let mut many = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
        let small = encoder::encode(&message("/a", vec![])).unwrap();
        for _ in 0..=MAX_MESSAGES {
            many.extend_from_slice(&(small.len() as u32).to_be_bytes());
            many.extend_from_slice(&small);
        }
        assert_eq!(check(&many), Err(WireError::TooManyMessages));
    }
}
