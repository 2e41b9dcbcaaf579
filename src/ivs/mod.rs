//! Publishing to an Amazon IVS real-time stage: participant tokens (ES384 JWTs), the stage's
//! ingest rules as preflight checks over OBS's output settings, and the settings that fix them.
//! Pure code: no libobs, no network. The command line (`vrm-avatar ivs ...`) drives OBS with it.

pub mod preflight;
pub mod setup;
pub mod token;

/// Shows only the first and last few characters of a secret (token, stream key, private key),
/// so that logs and messages can tell secrets apart without leaking them.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len().max(3));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail} ({} chars)", chars.len())
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn mask_keeps_only_a_few_characters() {
        let token = "eyJhbGciOiJFUzM4NCJ9.eyJzZWNyZXQiOnRydWV9.c2lnbmF0dXJl";
        let masked = mask(token);
        assert_eq!(masked, format!("eyJh...dXJl ({} chars)", token.len()));
        assert!(!masked.contains("OiJFUzM4"));
        assert_eq!(mask("short-key"), "*********");
        assert_eq!(mask(""), "***");
    }
}
