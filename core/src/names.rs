//! Validation of bucket names and object keys.
//!
//! Keys are opaque byte strings to the catalogue: `..`, `//` or `%2F` in a key
//! mean nothing to storage, which addresses bytes by chunk hash, never by key,
//! so no key can reach a path on disk.

use crate::CoreError;

/// Percent-encodes `s` (as UTF-8) except RFC 3986 unreserved characters and
/// '/': how a key travels where only visible ASCII may (an S3 path, a listing
/// with `encoding-type=url`, a signed gRPC resource). '+' is encoded, since
/// some decoders read it as a space.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The longest key S3 allows, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// S3's rules for bucket names (the DNS-compatible subset).
pub fn check_bucket_name(name: &str) -> Result<(), CoreError> {
    let bad = |why: &str| Err(CoreError::InvalidBucketName(format!("{name:?}: {why}")));
    if !(3..=63).contains(&name.len()) {
        return bad("length must be 3 to 63");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("only lowercase letters, digits, '-' and '.'");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()) {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("no adjacent periods or period-dash");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not look like an IP address");
    }
    Ok(())
}

/// A key is any non-empty UTF-8 string of at most 1024 bytes without NUL
/// (which XML 1.0 cannot carry in a listing, and which the catalogue uses
/// to end a key in its version index).
pub fn check_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty() {
        return Err(CoreError::InvalidKey("empty key".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(CoreError::InvalidKey(format!(
            "key is {} bytes; at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(CoreError::InvalidKey("key contains NUL".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding() {
        assert_eq!(uri_encode("a/b c+d"), "a/b%20c%2Bd");
        assert_eq!(uri_encode("ü"), "%C3%BC");
        assert_eq!(uri_encode("x\u{1}"), "x%01");
        assert_eq!(uri_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "juno-raw", "a.b.c", "x1y2z3", &"a".repeat(63)] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "192.168.1.1",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(
                matches!(check_bucket_name(bad), Err(CoreError::InvalidBucketName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_are_opaque_but_bounded() {
        for ok in [
            "../../etc/passwd",
            "a//b",
            "a%2Fb",
            "ctl\u{1}\u{7f}",
            &"k".repeat(1024),
        ] {
            assert!(check_key(ok).is_ok(), "{ok:?}");
        }
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(1025)).is_err());
        assert!(check_key("a\0b").is_err());
    }
}
