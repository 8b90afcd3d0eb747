//! Bearer tokens in the WLCG Common JWT Profile (v1.0): a JWT whose
//! `scope` claim holds storage scopes, verified offline against the keys of
//! issuers named in the configuration, and issued by Meridian itself
//! (`meridianctl token create`, ES256). Every time check (`exp`, `nbf`,
//! the longest life) is made here against the service's clock, not the
//! library's reading of the system's.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::scope::Scopes;

/// The audience every WLCG storage service accepts.
pub const ANY_AUDIENCE: &str = "https://wlcg.cern.ch/jwt/v1/any";
/// A token may live at most this long from now: the profile's access
/// tokens are short-lived (hours), and a leaked one must not outlast a day.
pub const MAX_LIFE: Duration = Duration::from_secs(24 * 3600);
/// Clock difference forgiven on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// Longest token read: a JWT with a few scopes is well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    scope: String,
    #[serde(rename = "wlcg.ver", default, skip_serializing_if = "Option::is_none")]
    wlcg_ver: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's issuer {0:?} is not trusted here")]
    UnknownIssuer(String),
    #[error("the token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the token expired {0} s ago")]
    Expired(i64),
    #[error("the token is not valid for another {0} s")]
    NotYetValid(i64),
    #[error("the token lives {0} s more, longer than the {max} s allowed", max = MAX_LIFE.as_secs())]
    TooLong(i64),
    #[error("the token's audience {0:?} is not this service")]
    WrongAudience(Vec<String>),
    #[error("the token carries no storage scope")]
    NoScope,
    #[error("the token's scope: {0}")]
    BadScope(String),
}

/// An issuer whose tokens are accepted.
#[derive(Clone)]
pub struct TrustedIssuer {
    /// The `iss` claim.
    pub issuer: String,
    pub key: DecodingKey,
    pub algorithm: Algorithm,
    /// The Meridian user its tokens act for; `None`: the token's `sub`.
    pub acts_as: Option<String>,
}

impl TrustedIssuer {
    /// From a PEM public key (EC: ES256; RSA: RS256).
    pub fn from_pem(issuer: &str, pem: &str, acts_as: Option<String>) -> Result<Self, String> {
        let (key, algorithm) = match DecodingKey::from_ec_pem(pem.as_bytes()) {
            Ok(k) => (k, Algorithm::ES256),
            Err(ec) => match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(k) => (k, Algorithm::RS256),
                Err(rsa) => {
                    return Err(format!(
                        "issuer {issuer}: neither an EC key ({ec}) nor an RSA key ({rsa})"
                    ))
                }
            },
        };
        Ok(TrustedIssuer {
            issuer: issuer.to_string(),
            key,
            algorithm,
            acts_as,
        })
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: String,
    pub scopes: Scopes,
    pub issuer: String,
    pub jti: String,
    pub expires_ms: i64,
}

/// Checks tokens against the trusted issuers and this service's audiences.
#[derive(Clone, Default)]
pub struct TokenVerifier {
    issuers: Vec<TrustedIssuer>,
    audiences: HashSet<String>,
}

/// The unverified `iss` of a JWT, to pick the key that verifies it.
fn peek_issuer(token: &str) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "not three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&bytes)
        .map(|i| i.iss)
        .map_err(|e| TokenError::Malformed(format!("payload: {e}")))
}

impl TokenVerifier {
    /// `audiences`: the names this service answers to (the WLCG "any"
    /// audience is always one).
    pub fn new(issuers: Vec<TrustedIssuer>, audiences: &[String]) -> Self {
        let mut set: HashSet<String> = audiences.iter().cloned().collect();
        set.insert(ANY_AUDIENCE.to_string());
        TokenVerifier {
            issuers,
            audiences: set,
        }
    }

    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "{} bytes, more than {MAX_TOKEN_BYTES}",
                token.len()
            )));
        }
        let iss = peek_issuer(token)?;
        let trusted = self
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or_else(|| TokenError::UnknownIssuer(iss.clone()))?;
        let mut v = Validation::new(trusted.algorithm);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims = HashSet::new();
        let claims = jsonwebtoken::decode::<Claims>(token, &trusted.key, &v)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                    TokenError::BadSignature(e.to_string())
                }
                _ => TokenError::Malformed(e.to_string()),
            })?
            .claims;
        let now = now_ms.div_euclid(1000);
        let leeway = LEEWAY.as_secs() as i64;
        if claims.exp.saturating_add(leeway) < now {
            return Err(TokenError::Expired(now.saturating_sub(claims.exp)));
        }
        if let Some(nbf) = claims.nbf {
            if nbf.saturating_sub(leeway) > now {
                return Err(TokenError::NotYetValid(nbf.saturating_sub(now)));
            }
        }
        if claims.exp.saturating_sub(now) > MAX_LIFE.as_secs() as i64 {
            return Err(TokenError::TooLong(claims.exp.saturating_sub(now)));
        }
        let aud: Vec<String> = match claims.aud {
            Some(Audience::One(a)) => vec![a],
            Some(Audience::Many(a)) => a,
            None => Vec::new(),
        };
        if !aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(TokenError::WrongAudience(aud));
        }
        let scopes = Scopes::parse(&claims.scope).map_err(TokenError::BadScope)?;
        if scopes.is_empty() {
            return Err(TokenError::NoScope);
        }
        Ok(Verified {
            user: trusted.acts_as.clone().unwrap_or(claims.sub),
            scopes,
            issuer: claims.iss,
            jti: claims.jti,
            expires_ms: claims.exp.saturating_mul(1000),
        })
    }
}

/// Meridian as an issuer: ES256 with a P-256 key (PKCS#8 PEM).
#[derive(Clone)]
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    key: EncodingKey,
    public_pem: String,
}

impl TokenIssuer {
    pub fn from_pem(issuer: &str, audience: &str, private_pem: &str) -> Result<Self, String> {
        let pair = rcgen::KeyPair::from_pem(private_pem).map_err(|e| e.to_string())?;
        if pair.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err("the token key is not a P-256 key".into());
        }
        Ok(TokenIssuer {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            key: EncodingKey::from_ec_pem(private_pem.as_bytes()).map_err(|e| e.to_string())?,
            public_pem: pair.public_key_pem(),
        })
    }

    /// A new signing key, PKCS#8 PEM.
    pub fn generate_pem() -> Result<String, String> {
        rcgen::KeyPair::generate()
            .map(|k| k.serialize_pem())
            .map_err(|e| e.to_string())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key that verifies its tokens (for other services).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// This issuer as one a verifier trusts.
    pub fn trusted(&self) -> Result<TrustedIssuer, String> {
        TrustedIssuer::from_pem(&self.issuer, &self.public_pem, None)
    }

    /// A token for `user` with `scopes`, valid `ttl` from `now_ms`.
    pub fn issue(
        &self,
        user: &str,
        scopes: &Scopes,
        ttl: Duration,
        now_ms: i64,
        jti: &str,
    ) -> Result<String, String> {
        if ttl > MAX_LIFE || ttl.is_zero() {
            return Err(format!(
                "a token lives between 1 s and {} s, not {} s",
                MAX_LIFE.as_secs(),
                ttl.as_secs()
            ));
        }
        if scopes.is_empty() {
            return Err("a token needs at least one storage scope".into());
        }
        let now = now_ms.div_euclid(1000);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.to_string(),
            aud: Some(Audience::One(self.audience.clone())),
            exp: now + ttl.as_secs() as i64,
            nbf: Some(now),
            iat: Some(now),
            jti: jti.to_string(),
            scope: scopes.to_string(),
            wlcg_ver: Some("1.0".into()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn issuer(name: &str) -> TokenIssuer {
        TokenIssuer::from_pem(name, "meridian", &TokenIssuer::generate_pem().expect("key"))
            .expect("issuer")
    }

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s).expect("scopes")
    }

    #[test]
    fn a_token_verifies_within_its_life_under_its_issuer_only() {
        let ours = issuer("meridian");
        let verifier = TokenVerifier::new(vec![ours.trusted().expect("t")], &["meridian".into()]);
        let t = ours
            .issue(
                "alice",
                &scopes("storage.read:/juno"),
                Duration::from_secs(600),
                NOW,
                "j1",
            )
            .expect("issued");
        let v = verifier.verify(&t, NOW).expect("verifies");
        assert_eq!(v.user, "alice");
        assert_eq!(v.jti, "j1");
        assert_eq!(v.scopes, scopes("storage.read:/juno"));
        assert_eq!(
            verifier.verify(&t, NOW + 661_000),
            Err(TokenError::Expired(61))
        );
        assert!(matches!(
            verifier.verify(&t, NOW - 120_000),
            Err(TokenError::NotYetValid(_))
        ));
        // Same iss, another key: the signature does not verify.
        let forger = issuer("meridian");
        let forged = forger
            .issue(
                "alice",
                &scopes("storage.modify:/"),
                Duration::from_secs(600),
                NOW,
                "j2",
            )
            .expect("issued");
        assert!(matches!(
            verifier.verify(&forged, NOW),
            Err(TokenError::BadSignature(_))
        ));
        let stranger = issuer("https://other.example");
        let t = stranger
            .issue(
                "bob",
                &scopes("storage.read:/"),
                Duration::from_secs(60),
                NOW,
                "j3",
            )
            .expect("issued");
        assert!(matches!(
            verifier.verify(&t, NOW),
            Err(TokenError::UnknownIssuer(_))
        ));
        // A tampered payload.
        let t = ours
            .issue(
                "alice",
                &scopes("storage.read:/juno"),
                Duration::from_secs(60),
                NOW,
                "j4",
            )
            .expect("issued");
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .expect("b64");
        let widened = String::from_utf8(payload)
            .expect("utf8")
            .replace("storage.read:/juno", "storage.modify:/");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(widened);
        assert!(matches!(
            verifier.verify(&parts.join("."), NOW),
            Err(TokenError::BadSignature(_))
        ));
        assert!(matches!(
            verifier.verify("not.a-token", NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn audience_life_and_scope_are_checked() {
        let ours = issuer("meridian");
        let t = ours
            .issue(
                "alice",
                &scopes("storage.read:/"),
                Duration::from_secs(60),
                NOW,
                "j",
            )
            .expect("issued");
        let elsewhere = TokenVerifier::new(vec![ours.trusted().expect("t")], &["other".into()]);
        assert!(matches!(
            elsewhere.verify(&t, NOW),
            Err(TokenError::WrongAudience(_))
        ));
        assert!(ours
            .issue(
                "a",
                &scopes("storage.read:/"),
                MAX_LIFE + Duration::from_secs(1),
                NOW,
                "j"
            )
            .is_err());
        assert!(ours
            .issue("a", &Scopes::default(), Duration::from_secs(60), NOW, "j")
            .is_err());
    }

    #[test]
    fn an_external_issuer_acts_as_its_configured_user() {
        let theirs = issuer("https://iam.example/");
        let trusted = TrustedIssuer::from_pem(
            "https://iam.example/",
            theirs.public_pem(),
            Some("cms-prod".into()),
        )
        .expect("trusted");
        let t = TokenIssuer {
            audience: ANY_AUDIENCE.into(),
            ..theirs
        }
        .issue(
            "a1b2c3",
            &scopes("storage.create:/cms"),
            Duration::from_secs(60),
            NOW,
            "x",
        )
        .expect("issued");
        let v = TokenVerifier::new(vec![trusted], &[])
            .verify(&t, NOW)
            .expect("the WLCG any-audience is accepted");
        assert_eq!(v.user, "cms-prod");
    }
}
