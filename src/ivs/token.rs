//! IVS real-time participant tokens made offline with a key pair: an ES384-signed JWT whose
//! header names the imported public key (`kid`) and whose payload follows the schema of the IVS
//! Real-Time User Guide ("Creating Tokens with a Key Pair"). IVS treats the token as opaque for
//! clients, so [`inspect`] is only for showing and warning, never for decisions.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::ecdsa::{Signature, SigningKey, signature::Signer};
use p384::pkcs8::DecodePrivateKey;
use p384::pkcs8::der::{Decode, asn1::ObjectIdentifier, pem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// IVS refuses tokens that live longer than 14 days.
pub const MAX_DURATION_SECS: u64 = 14 * 24 * 3600;
/// IVS's own default (CreateParticipantToken): 12 hours.
pub const DEFAULT_DURATION_SECS: u64 = 12 * 3600;
/// The global WHIP endpoint (OBS's "Server" for the WHIP service).
pub const DEFAULT_WHIP_URL: &str = "https://global.whip.live-video.net";
/// The global events endpoint the IVS SDKs connect to.
pub const DEFAULT_EVENTS_URL: &str = "wss://global.events.live-video.net";
/// Attributes: keys and values together, at most 1 KB.
pub const MAX_ATTRIBUTES_BYTES: usize = 1024;
/// `user_id`: at most 128 characters (CreateParticipantToken's limit).
pub const MAX_USER_ID_CHARS: usize = 128;
/// `jti` (the participant id): 1 to 64 characters of `[A-Za-z0-9_-]`.
pub const MAX_JTI_CHARS: usize = 64;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// An IVS ARN: `arn:PARTITION:ivs:REGION:ACCOUNT:TYPE/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub region: String,
    pub account: String,
    pub resource_type: String,
    pub id: String,
}

impl Arn {
    /// Parses an IVS ARN of the given resource type (`stage` or `public-key`).
    pub fn parse(text: &str, resource_type: &str) -> Result<Arn> {
        let example = format!("arn:aws:ivs:us-east-1:123456789012:{resource_type}/AbCdEf123456");
        let bad = |why: &str| {
            anyhow!("{text:?} is not an IVS {resource_type} ARN ({why}; expected e.g. {example})")
        };
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("it needs six ':'-separated fields"));
        };
        if arn != "arn" || !partition.starts_with("aws") {
            return Err(bad("it must start with arn:aws"));
        }
        if service != "ivs" {
            return Err(bad("the service must be ivs"));
        }
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(bad("the region is missing or malformed"));
        }
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("the account id must be 12 digits"));
        }
        let Some((kind, id)) = resource.split_once('/') else {
            return Err(bad("the resource must be TYPE/ID"));
        };
        if kind != resource_type {
            return Err(bad(&format!("it names a {kind}, not a {resource_type}")));
        }
        let id_ok = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(bad("the resource id must be letters, digits, '-' or '_'"));
        }
        Ok(Arn {
            region: region.into(),
            account: account.into(),
            resource_type: kind.into(),
            id: id.into(),
        })
    }
}

/// What the participant may do on the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub allow_publish: bool,
    pub allow_subscribe: bool,
}

impl Capabilities {
    /// `publish`, `subscribe` or `publish,subscribe` (case-insensitive).
    pub fn parse(text: &str) -> Result<Capabilities> {
        let mut caps = Capabilities {
            allow_publish: false,
            allow_subscribe: false,
        };
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "publish" => caps.allow_publish = true,
                "subscribe" => caps.allow_subscribe = true,
                _ => bail!("--capabilities {text}: {word:?} is neither publish nor subscribe"),
            }
        }
        if !caps.allow_publish && !caps.allow_subscribe {
            bail!("--capabilities {text:?}: give publish, subscribe or both");
        }
        Ok(caps)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.allow_publish {
            names.push("publish");
        }
        if self.allow_subscribe {
            names.push("subscribe");
        }
        names
    }
}

/// A token duration: `90s`, `30m`, `12h`, `14d` or a bare number of minutes (as IVS's API
/// counts), at most 14 days.
pub fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_lowercase()),
        _ => (text, 'm'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => bail!("duration {text:?}: use s, m, h or d, e.g. 12h"),
    };
    let value: u64 = number
        .trim()
        .parse()
        .map_err(|_| anyhow!("duration {text:?}: expected a whole number and a unit, e.g. 12h"))?;
    let secs = value.saturating_mul(scale);
    validate_duration(secs).with_context(|| format!("duration {text:?}"))?;
    Ok(secs)
}

fn validate_duration(secs: u64) -> Result<()> {
    if secs == 0 {
        bail!("a token must live longer than 0 seconds");
    }
    if secs > MAX_DURATION_SECS {
        bail!("IVS accepts tokens of at most 14 days (exp at most 14 days after iat)");
    }
    Ok(())
}

/// `jti`: the participant id, 1-64 characters of `[A-Za-z0-9_-]`.
pub fn validate_jti(jti: &str) -> Result<()> {
    if jti.is_empty() || jti.len() > MAX_JTI_CHARS {
        bail!(
            "jti {jti:?} must be 1 to {MAX_JTI_CHARS} characters long (it has {})",
            jti.len()
        );
    }
    if let Some(c) = jti
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        bail!("jti {jti:?} has {c:?}: only letters, digits, '-' and '_' are allowed");
    }
    Ok(())
}

/// Attributes are shown to every participant; IVS limits keys and values together to 1 KB.
pub fn validate_attributes(attributes: &BTreeMap<String, String>) -> Result<()> {
    let total: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ATTRIBUTES_BYTES {
        bail!(
            "attributes are {total} bytes (keys and values together); IVS allows at most {MAX_ATTRIBUTES_BYTES}"
        );
    }
    if attributes.keys().any(String::is_empty) {
        bail!("an attribute has an empty name (use --attribute NAME=VALUE)");
    }
    Ok(())
}

/// `NAME=VALUE` of `--attribute`.
pub fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?}: expected NAME=VALUE")),
    }
}

/// What goes into a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub stage_arn: String,
    pub key_arn: String,
    pub user_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub capabilities: Capabilities,
    pub duration_secs: u64,
    /// The participant id; a random one when `None`.
    pub jti: Option<String>,
    pub whip_url: String,
    pub events_url: String,
    /// Seconds since the Unix epoch; now when `None`.
    pub issued_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// The payload schema of an IVS participant token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub resource: String,
    pub topic: String,
    pub events_url: String,
    pub whip_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    pub capabilities: Capabilities,
    pub version: String,
}

/// Creates and signs a participant token (compact JWS) with `private_key_pem`, a P-384 key.
pub fn create(request: &TokenRequest, private_key_pem: &str) -> Result<String> {
    let stage = Arn::parse(&request.stage_arn, "stage").context("--stage-arn")?;
    let key_arn = Arn::parse(&request.key_arn, "public-key").context("--key-arn")?;
    if stage.region != key_arn.region || stage.account != key_arn.account {
        bail!(
            "the public key ({} in {}) and the stage ({} in {}) must be in the same account and region",
            key_arn.account,
            key_arn.region,
            stage.account,
            stage.region
        );
    }
    validate_duration(request.duration_secs)?;
    let jti = match &request.jti {
        Some(jti) => jti.clone(),
        None => random_jti()?,
    };
    validate_jti(&jti)?;
    validate_attributes(&request.attributes)?;
    if let Some(user) = &request.user_id
        && user.chars().count() > MAX_USER_ID_CHARS
    {
        bail!("user id is longer than {MAX_USER_ID_CHARS} characters");
    }
    for (flag, url, schemes) in [
        ("--whip-url", &request.whip_url, &["https://"][..]),
        ("--events-url", &request.events_url, &["wss://"][..]),
    ] {
        if !schemes.iter().any(|s| url.starts_with(s)) || url.len() <= schemes[0].len() {
            bail!("{flag} {url:?} must start with {}", schemes[0]);
        }
    }
    let key = load_private_key(private_key_pem)?;

    let iat = match request.issued_at {
        Some(t) => t,
        None => now_secs(),
    };
    let claims = Claims {
        exp: iat + request.duration_secs,
        iat,
        jti,
        resource: request.stage_arn.clone(),
        topic: stage.id,
        events_url: request.events_url.clone(),
        whip_url: request.whip_url.clone(),
        user_id: request.user_id.clone(),
        attributes: request.attributes.clone(),
        capabilities: request.capabilities,
        version: "1.0".into(),
    };
    let header = Header {
        alg: "ES384".into(),
        typ: "JWT".into(),
        kid: request.key_arn.clone(),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    // JWS ES384: the fixed-size r || s, not DER.
    let signature: Signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// A random participant id: 16 bytes as hex.
fn random_jti() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no random numbers for the jti: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Loads a P-384 private key from PEM: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), as
/// the IVS console and `openssl ecparam -name secp384r1 -genkey` write them. Other keys are
/// refused with what they are.
pub fn load_private_key(text: &str) -> Result<SigningKey> {
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).map_err(|e| {
        anyhow!("the private key is not a PEM file ({e}); IVS keys are P-384 (secp384r1) PEM files")
    })?;
    let wrong_curve = |curve: Option<ObjectIdentifier>| {
        let name = match curve {
            Some(c) if c == OID_P256 => "P-256 (prime256v1)".to_string(),
            Some(c) if c == OID_P521 => "P-521".to_string(),
            Some(c) if c == OID_SECP256K1 => "secp256k1".to_string(),
            Some(c) => format!("curve {c}"),
            None => "an unnamed curve".to_string(),
        };
        anyhow!(
            "the private key is an EC key on {name}; IVS tokens are ES384 and need a P-384 (secp384r1) key"
        )
    };
    let secret = match label {
        "PRIVATE KEY" => {
            let info = p384::pkcs8::PrivateKeyInfoRef::from_der(&der)
                .map_err(|e| anyhow!("the PKCS#8 private key is malformed: {e}"))?;
            let (algorithm, curve) = info
                .algorithm
                .oids()
                .map_err(|e| anyhow!("the PKCS#8 private key is malformed: {e}"))?;
            if algorithm == OID_RSA {
                bail!(
                    "the private key is an RSA key; IVS tokens are ES384 and need a P-384 (secp384r1) EC key"
                );
            }
            if algorithm == OID_ED25519 {
                bail!(
                    "the private key is an Ed25519 key; IVS tokens are ES384 and need a P-384 (secp384r1) EC key"
                );
            }
            if algorithm != OID_EC_PUBLIC_KEY {
                bail!(
                    "the private key's algorithm {algorithm} is not EC; IVS needs a P-384 (secp384r1) key"
                );
            }
            if curve != Some(OID_P384) {
                return Err(wrong_curve(curve));
            }
            p384::SecretKey::from_pkcs8_der(&der)
                .map_err(|e| anyhow!("the P-384 PKCS#8 key is malformed: {e}"))?
        }
        "EC PRIVATE KEY" => {
            let key = sec1::EcPrivateKey::from_der(&der)
                .map_err(|e| anyhow!("the SEC1 EC private key is malformed: {e}"))?;
            let curve = key.parameters.and_then(|p| p.named_curve());
            if curve.is_some() && curve != Some(OID_P384) {
                return Err(wrong_curve(curve));
            }
            p384::SecretKey::from_sec1_der(&der).map_err(|_| wrong_curve(curve))?
        }
        "RSA PRIVATE KEY" => bail!(
            "the private key is an RSA key; IVS tokens are ES384 and need a P-384 (secp384r1) EC key"
        ),
        "ENCRYPTED PRIVATE KEY" => bail!(
            "the private key is encrypted; decrypt it first (openssl pkcs8 -in KEY -out plain.pem)"
        ),
        "PUBLIC KEY" => bail!(
            "that is a public key; give the private key that belongs to the public key imported into IVS"
        ),
        other => {
            bail!("a PEM {other:?} is not a private key; IVS needs a P-384 (secp384r1) private key")
        }
    };
    Ok(SigningKey::from(&secret))
}

/// What `ivs inspect` shows of a token (decoded without verifying the signature).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub stage_arn: String,
    pub stage_id: String,
    pub user_id: Option<String>,
    pub capabilities: Vec<&'static str>,
    pub issued_at: String,
    pub expires_at: String,
    pub expired: bool,
    pub whip_url: String,
    pub key_arn: Option<String>,
    pub participant_id: String,
    pub attributes: BTreeMap<String, String>,
}

/// Decodes a token's payload without verifying it: for showing it and for warnings only.
pub fn inspect(token: &str) -> Result<TokenInfo> {
    inspect_at(token, now_secs())
}

/// [`inspect`] as of `now` (seconds since the Unix epoch).
pub fn inspect_at(token: &str, now: u64) -> Result<TokenInfo> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts[..] else {
        bail!(
            "the token {} is not a JWT (three base64url parts separated by '.')",
            super::mask(token)
        );
    };
    let decode = |part: &str, what: &str| -> Result<serde_json::Value> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|e| anyhow!("the token's {what} is not base64url: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("the token's {what} is not JSON: {e}"))
    };
    let header = decode(header, "header")?;
    let claims: Claims = serde_json::from_value(decode(payload, "payload")?)
        .map_err(|e| anyhow!("the token's payload is not an IVS participant token: {e}"))?;
    Ok(TokenInfo {
        stage_arn: claims.resource,
        stage_id: claims.topic,
        user_id: claims.user_id,
        capabilities: claims.capabilities.names(),
        issued_at: rfc3339(claims.iat),
        expires_at: rfc3339(claims.exp),
        expired: claims.exp <= now,
        whip_url: claims.whip_url,
        key_arn: header["kid"].as_str().map(str::to_string),
        participant_id: claims.jti,
        attributes: claims.attributes,
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (proleptic Gregorian, UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: &str = "arn:aws:ivs:us-west-2:123456789012:stage/AbCdEf123456";
    const KEY: &str = "arn:aws:ivs:us-west-2:123456789012:public-key/f99cde61c2b0";

    fn test_key_pem() -> String {
        use p384::pkcs8::EncodePrivateKey;
        let secret = p384::SecretKey::from_slice(&[7u8; 48]).unwrap();
        secret
            .to_pkcs8_pem(p384::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    }

    fn request() -> TokenRequest {
        TokenRequest {
            stage_arn: STAGE.into(),
            key_arn: KEY.into(),
            user_id: Some("avatar".into()),
            attributes: BTreeMap::from([("name".to_string(), "Vee".to_string())]),
            capabilities: Capabilities::parse("publish").unwrap(),
            duration_secs: 3600,
            jti: Some("participant_1".into()),
            whip_url: DEFAULT_WHIP_URL.into(),
            events_url: DEFAULT_EVENTS_URL.into(),
            issued_at: Some(1_700_000_000),
        }
    }

    #[test]
    fn token_round_trips_through_inspect_and_verifies() {
        use p384::ecdsa::signature::Verifier;
        let pem = test_key_pem();
        let token = create(&request(), &pem).unwrap();
        let info = inspect_at(&token, 1_700_000_001).unwrap();
        assert_eq!(info.stage_arn, STAGE);
        assert_eq!(info.stage_id, "AbCdEf123456");
        assert_eq!(info.capabilities, vec!["publish"]);
        assert_eq!(info.issued_at, "2023-11-14T22:13:20Z");
        assert_eq!(info.expires_at, "2023-11-14T23:13:20Z");
        assert!(!info.expired);
        assert!(inspect_at(&token, 1_700_003_600).unwrap().expired);
        assert_eq!(info.key_arn.as_deref(), Some(KEY));

        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        let key = load_private_key(&pem).unwrap();
        key.verifying_key().verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn invalid_inputs_are_refused_with_the_reason() {
        let pem = test_key_pem();
        let fails = |r: TokenRequest, words: &str| {
            let err = format!("{:#}", create(&r, &pem).unwrap_err());
            assert!(err.contains(words), "{err:?} should say {words:?}");
        };
        let mut r = request();
        r.stage_arn = "arn:aws:ivs:us-west-2:123456789012:channel/AbCdEf123456".into();
        fails(r, "names a channel");
        let mut r = request();
        r.stage_arn = "arn:aws:ivs:us-west-2:1234:stage/AbC".into();
        fails(r, "12 digits");
        let mut r = request();
        r.key_arn = STAGE.into();
        fails(r, "not a public-key");
        let mut r = request();
        r.duration_secs = MAX_DURATION_SECS + 1;
        fails(r, "at most 14 days");
        let mut r = request();
        r.jti = Some("bad jti!".into());
        fails(r, "only letters, digits");
        let mut r = request();
        r.jti = Some("a".repeat(65));
        fails(r, "1 to 64");
        let mut r = request();
        r.attributes = BTreeMap::from([("big".to_string(), "x".repeat(1022))]);
        fails(r, "at most 1024");
        let mut r = request();
        r.key_arn = "arn:aws:ivs:eu-west-1:123456789012:public-key/f99cde61c2b0".into();
        fails(r, "same account and region");
    }

    #[test]
    fn durations_parse_with_units_and_cap_at_14_days() {
        assert_eq!(parse_duration("12h").unwrap(), 43200);
        assert_eq!(parse_duration("90").unwrap(), 5400);
        assert_eq!(parse_duration("14d").unwrap(), MAX_DURATION_SECS);
        assert!(parse_duration("15d").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn dates_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
