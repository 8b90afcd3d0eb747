//! Signed requests: a caller proves it holds an access key's secret without
//! sending it, in the manner of SigV4. The signature is an HMAC-SHA256,
//! keyed by the secret, over the algorithm, the caller's time, a nonce, the
//! gRPC method, the resource the request acts on and the access key:
//!
//! ```text
//! MERIDIAN1-HMAC-SHA256\n<time ms>\n<nonce>\n/<package.Service>/<Method>\n<resource>\n<access key>
//! ```
//!
//! sent as the metadata below, `x-meridian-signature` in lower-case hex.
//! The resource is `/`, `/BUCKET` or `/BUCKET/KEY`, percent-encoded as an
//! S3 path is (every byte but `A-Za-z0-9-._~/`, so a key in any script
//! travels in ASCII metadata); the service checks the request's own bucket
//! and key are the ones signed. A signature is good
//! within [`WINDOW`] of the server's clock, once: its nonce is remembered
//! for the window.

use std::time::Duration;

use meridian_core::names::uri_encode;
use ring::hmac;

pub const ALGORITHM: &str = "MERIDIAN1-HMAC-SHA256";
pub const ACCESS_KEY: &str = "x-meridian-access-key";
pub const TIME: &str = "x-meridian-time";
pub const NONCE: &str = "x-meridian-nonce";
pub const RESOURCE: &str = "x-meridian-resource";
pub const SIGNATURE: &str = "x-meridian-signature";

/// How far a request's time may be from the server's, either way.
pub const WINDOW: Duration = Duration::from_secs(300);
/// A nonce: 16 to 64 characters of `[A-Za-z0-9_-]`.
pub const NONCE_MIN: usize = 16;
pub const NONCE_MAX: usize = 64;

/// What a request was signed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub access_key: String,
    pub time_ms: i64,
    pub nonce: String,
    pub method: String,
    pub resource: String,
}

impl Signed {
    pub fn string_to_sign(&self) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{}\n{}\n{}",
            self.time_ms, self.nonce, self.method, self.resource, self.access_key
        )
    }

    /// The signature, lower-case hex.
    pub fn sign(&self, secret: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hex::encode(hmac::sign(&key, self.string_to_sign().as_bytes()).as_ref())
    }

    /// Whether `signature` (hex) is this request's under `secret`; compared
    /// in constant time.
    pub fn verify(&self, secret: &str, signature: &str) -> bool {
        let Ok(sig) = hex::decode(signature) else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hmac::verify(&key, self.string_to_sign().as_bytes(), &sig).is_ok()
    }
}

pub fn valid_nonce(n: &str) -> bool {
    (NONCE_MIN..=NONCE_MAX).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The resource a request on `bucket` (and `key`) acts on, as signed.
pub fn resource(bucket: &str, key: Option<&str>) -> String {
    match (bucket, key) {
        ("", _) => "/".into(),
        (b, None) => format!("/{}", uri_encode(b)),
        (b, Some(k)) => format!("/{}/{}", uri_encode(b), uri_encode(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Signed {
        Signed {
            access_key: "MKEXAMPLE".into(),
            time_ms: 1_765_100_000_000,
            nonce: "0123456789abcdef".into(),
            method: "/meridian.v1.ObjectService/Put".into(),
            resource: "/juno/raw/run1.h5".into(),
        }
    }

    #[test]
    fn a_signature_covers_every_field() {
        let sig = req().sign("secret");
        assert!(req().verify("secret", &sig));
        assert!(!req().verify("other secret", &sig));
        assert!(!req().verify("secret", "zz"));
        let changes: [fn(&mut Signed); 5] = [
            |r| r.access_key.push('X'),
            |r| r.time_ms += 1,
            |r| r.nonce.push('0'),
            |r| r.method = "/meridian.v1.ObjectService/Delete".into(),
            |r| r.resource = "/juno/raw/run2.h5".into(),
        ];
        for change in changes {
            let mut r = req();
            change(&mut r);
            assert!(!r.verify("secret", &sig), "{r:?} verified");
        }
    }

    #[test]
    fn the_string_to_sign_is_as_documented() {
        // What clients in other languages reproduce (clients/python).
        assert_eq!(
            req().string_to_sign(),
            "MERIDIAN1-HMAC-SHA256\n1765100000000\n0123456789abcdef\n\
             /meridian.v1.ObjectService/Put\n/juno/raw/run1.h5\nMKEXAMPLE"
        );
        // The same vector is checked by clients/python/tests.
        assert_eq!(
            req().sign("secret"),
            "603aaa02d48e574e6ab07602c58d0361b4ae7c989e3cacfa338fa9abc5db9f39"
        );
        assert!(valid_nonce("0123456789abcdef"));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("0123456789abcdef/"));
    }

    #[test]
    fn a_resource_is_ascii_whatever_the_key() {
        assert_eq!(resource("", Some("k")), "/");
        assert_eq!(resource("juno", None), "/juno");
        assert_eq!(
            resource("juno", Some("raw/run 1.h5")),
            "/juno/raw/run%201.h5"
        );
        assert_eq!(
            resource("juno", Some("数据/a+b")),
            "/juno/%E6%95%B0%E6%8D%AE/a%2Bb"
        );
        // Distinct keys stay distinct once encoded.
        assert_ne!(resource("b", Some("a%20")), resource("b", Some("a ")));
    }
}
