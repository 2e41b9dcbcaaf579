//! `vrm-avatar ivs token` and `ivs inspect` as a user runs them. Each token is verified by an
//! independent implementation: Python's `cryptography` (OpenSSL), installed from PyPI into a
//! virtual environment under the target folder on first use. The same library makes the keys.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use vrm_avatar_tools::launcher::python::venv_python;

const STAGE: &str = "arn:aws:ivs:us-west-2:123456789012:stage/AbCdEf123456";
const KEY: &str = "arn:aws:ivs:us-west-2:123456789012:public-key/f99cde61c2b0";
const CRYPTOGRAPHY: &str = "cryptography==48.0.0";

/// Writes keys of every kind with `cryptography` and verifies tokens with it.
const HELPER: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils

def pem(key, fmt):
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

if sys.argv[1] == "keys":
    out = sys.argv[2]
    p384 = ec.generate_private_key(ec.SECP384R1())
    files = {
        "p384_pkcs8.pem": pem(p384, serialization.PrivateFormat.PKCS8),
        "p384_sec1.pem": pem(ec.generate_private_key(ec.SECP384R1()), serialization.PrivateFormat.TraditionalOpenSSL),
        "p256_pkcs8.pem": pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8),
        "p256_sec1.pem": pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL),
        "rsa_pkcs8.pem": pem(rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.PKCS8),
        "rsa_pkcs1.pem": pem(rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.TraditionalOpenSSL),
        "ed25519.pem": pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8),
        "p384_public.pem": p384.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    for name, data in files.items():
        open(f"{out}/{name}", "wb").write(data)
elif sys.argv[1] == "verify":
    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None).public_key()
    token = sys.stdin.read().strip()
    header, payload, signature = token.split(".")
    unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    raw = unb64(signature)
    assert len(raw) == 96, f"ES384 signatures are 96 bytes (r || s), got {len(raw)}"
    der = utils.encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    key.verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA384()))
    print(json.dumps({"header": json.loads(unb64(header)), "payload": json.loads(unb64(payload))}))
"#;

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The verifier's Python, set up once (an existing environment is reused).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        venv_python(
            &target_dir().join("ivs-verify-venv"),
            CRYPTOGRAPHY,
            "cryptography",
        )
        .unwrap()
    })
}

/// The output of a command that must succeed.
fn succeeded(out: std::io::Result<Output>, what: &str) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    out
}

/// A folder of fresh keys made by `cryptography`.
fn keys(name: &str) -> PathBuf {
    let dir = target_dir().join("ivs-token-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(python())
        .args(["-c", HELPER, "keys"])
        .arg(&dir)
        .output();
    succeeded(out, "making keys with cryptography");
    dir
}

fn vrm_avatar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(args)
        .output()
        .unwrap()
}

/// `ivs token` with a key, the two ARNs and `extra` flags.
fn token_args<'a>(
    key: &'a str,
    stage: &'a str,
    key_arn: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "ivs",
        "token",
        "--private-key",
        key,
        "--key-arn",
        key_arn,
        "--stage-arn",
        stage,
    ];
    args.extend_from_slice(extra);
    args
}

fn token(key: &Path, extra: &[&str]) -> String {
    let args = token_args(key.to_str().unwrap(), STAGE, KEY, extra);
    let out = succeeded(Ok(vrm_avatar(&args)), "ivs token");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Header and payload of a token whose signature `cryptography` accepts with `key`'s public key.
fn verify(key: &Path, token: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", HELPER, "verify"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = succeeded(child.wait_with_output(), "cryptography verifies the token");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn tokens_verify_independently_and_follow_the_ivs_schema() {
    let dir = keys("schema");
    let key = dir.join("p384_pkcs8.pem");
    let before = now();
    let token = token(
        &key,
        &[
            "--user-id",
            "vee",
            "--attribute",
            "displayName=Vee",
            "--attribute",
            "avatar=vrm",
            "--capabilities",
            "publish",
            "--duration",
            "2h",
            "--jti",
            "obs-avatar_01",
        ],
    );
    let decoded = verify(&key, &token);
    assert_eq!(
        decoded["header"],
        serde_json::json!({"alg": "ES384", "typ": "JWT", "kid": KEY})
    );
    let p = &decoded["payload"];
    let iat = p["iat"].as_i64().unwrap();
    assert!((before - 5..=now() + 5).contains(&iat), "iat {iat} is now");
    assert_eq!(p["exp"].as_i64().unwrap() - iat, 7200, "2h");
    let expected = serde_json::json!({
        "exp": p["exp"], "iat": iat, "jti": "obs-avatar_01",
        "resource": STAGE, "topic": "AbCdEf123456",
        "events_url": "wss://global.events.live-video.net",
        "whip_url": "https://global.whip.live-video.net",
        "user_id": "vee",
        "attributes": {"displayName": "Vee", "avatar": "vrm"},
        "capabilities": {"allow_publish": true, "allow_subscribe": false},
        "version": "1.0",
    });
    assert_eq!(p, &expected, "every claim, and no others");
}

#[test]
fn defaults_sec1_keys_and_random_participant_ids() {
    let dir = keys("defaults");
    let key = dir.join("p384_sec1.pem");
    let first = verify(&key, &token(&key, &[]));
    let second = verify(
        &key,
        &token(
            &key,
            &["--whip-url", "https://abc.global-bm.whip.live-video.net"],
        ),
    );
    let p = &first["payload"];
    assert_eq!(
        p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
        12 * 3600,
        "12 h by default"
    );
    assert_eq!(
        p["capabilities"],
        serde_json::json!({"allow_publish": true, "allow_subscribe": true})
    );
    assert!(
        p.get("user_id").is_none() && p.get("attributes").is_none(),
        "{p}"
    );
    let jti = p["jti"].as_str().unwrap();
    assert!(
        (1..=64).contains(&jti.len())
            && jti
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{jti}"
    );
    assert_ne!(
        jti,
        second["payload"]["jti"].as_str().unwrap(),
        "a new participant id each time"
    );
    assert_eq!(
        second["payload"]["whip_url"],
        "https://abc.global-bm.whip.live-video.net"
    );
    // 14 days is the most IVS takes, and is accepted.
    let long = verify(&key, &token(&key, &["--duration", "14d"]));
    let p = &long["payload"];
    assert_eq!(
        p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
        14 * 86400
    );
}

#[test]
fn inspect_shows_stage_capabilities_and_expiry() {
    let dir = keys("inspect");
    let key = dir.join("p384_pkcs8.pem");
    let token = token(
        &key,
        &[
            "--user-id",
            "vee",
            "--capabilities",
            "subscribe",
            "--duration",
            "30m",
        ],
    );
    let file = dir.join("token.txt");
    std::fs::write(&file, &token).unwrap();
    for arg in [token.clone(), format!("@{}", file.display())] {
        let out = succeeded(Ok(vrm_avatar(&["ivs", "inspect", &arg])), "ivs inspect");
        let info: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["stage_arn"], STAGE);
        assert_eq!(info["stage_id"], "AbCdEf123456");
        assert_eq!(info["user_id"], "vee");
        assert_eq!(info["capabilities"], serde_json::json!(["subscribe"]));
        assert_eq!(info["expired"], false);
        assert_eq!(info["whip_url"], "https://global.whip.live-video.net");
        let issued = info["issued_at"].as_str().unwrap();
        let expires = info["expires_at"].as_str().unwrap();
        assert!(issued.ends_with('Z') && issued.len() == 20, "{issued}");
        assert!(expires > issued, "{issued} {expires}");
    }
    let out = vrm_avatar(&["ivs", "inspect", "not-a-token"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A bad input: exit status 2, one line `error: ...` that says `words`, and no secret echoed.
fn refused(args: &[&str], words: &str) {
    let out = vrm_avatar(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed a token");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(words),
        "{args:?}: {stderr:?} should say {words:?}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}

#[test]
fn invalid_inputs_are_refused_with_clear_errors() {
    let dir = keys("invalid");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let good = path("p384_pkcs8.pem");
    let run = |key: &str, stage: &str, key_arn: &str, extra: &[&str], words: &str| {
        refused(&token_args(key, stage, key_arn, extra), words);
    };
    // ARNs.
    run(
        &good,
        "arn:aws:ivs:us-west-2:123456789012:channel/AbCdEf123456",
        KEY,
        &[],
        "names a channel, not a stage",
    );
    run(
        &good,
        "arn:aws:ivs:us-west-2:12345:stage/AbCdEf123456",
        KEY,
        &[],
        "12 digits",
    );
    run(
        &good,
        "arn:aws:s3:us-west-2:123456789012:stage/AbCdEf123456",
        KEY,
        &[],
        "service must be ivs",
    );
    run(&good, "AbCdEf123456", KEY, &[], "not an IVS stage ARN");
    run(&good, STAGE, STAGE, &[], "not a public-key");
    // Duration, jti, attributes, capabilities.
    run(&good, STAGE, KEY, &["--duration", "15d"], "at most 14 days");
    run(
        &good,
        STAGE,
        KEY,
        &["--duration", "20161"],
        "at most 14 days",
    );
    run(
        &good,
        STAGE,
        KEY,
        &["--jti", "has space"],
        "only letters, digits, '-' and '_'",
    );
    run(
        &good,
        STAGE,
        KEY,
        &["--jti", "dot.ted"],
        "only letters, digits, '-' and '_'",
    );
    let long_jti = "a".repeat(65);
    run(
        &good,
        STAGE,
        KEY,
        &["--jti", &long_jti],
        "1 to 64 characters",
    );
    let big = format!("bio={}", "x".repeat(1022));
    run(&good, STAGE, KEY, &["--attribute", &big], "at most 1024");
    run(&good, STAGE, KEY, &["--attribute", "novalue"], "NAME=VALUE");
    run(
        &good,
        STAGE,
        KEY,
        &["--capabilities", "admin"],
        "neither publish nor subscribe",
    );
    // Keys of the wrong kind.
    run(&path("p256_pkcs8.pem"), STAGE, KEY, &[], "EC key on P-256");
    run(&path("p256_sec1.pem"), STAGE, KEY, &[], "EC key on P-256");
    run(&path("rsa_pkcs8.pem"), STAGE, KEY, &[], "RSA key");
    run(&path("rsa_pkcs1.pem"), STAGE, KEY, &[], "RSA key");
    run(&path("ed25519.pem"), STAGE, KEY, &[], "Ed25519 key");
    run(&path("p384_public.pem"), STAGE, KEY, &[], "public key");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    run(not_pem.to_str().unwrap(), STAGE, KEY, &[], "not a PEM file");
    run(
        &path("missing.pem"),
        STAGE,
        KEY,
        &[],
        "reading the private key",
    );
}

/// Secrets never go to another machine over plain ws:// unless the user says so, and the
/// refusal comes before any connection is tried.
#[test]
fn configure_and_check_refuse_a_remote_ws_address_unless_allowed() {
    let remote = "ws://192.0.2.1:4455";
    for args in [
        vec!["ivs", "check", "--json", "--obs-websocket", remote],
        vec![
            "ivs",
            "configure",
            "--rtmp-url",
            "rtmps://example.global-contribute.live-video.net:443/app/",
            "--stream-key",
            "sk_us-east-1_secret",
            "--obs-websocket",
            remote,
        ],
    ] {
        let started = std::time::Instant::now();
        let out = vrm_avatar(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("not encrypted") && err.contains("--allow-remote"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("sk_us-east-1_secret"),
            "the key is not echoed: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "refused before connecting"
        );
    }
    // Allowed, it does try that machine (which is not there).
    let out = vrm_avatar(&[
        "ivs",
        "check",
        "--json",
        "--obs-websocket",
        remote,
        "--allow-remote",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is OBS running"),
        "{err}"
    );
}
