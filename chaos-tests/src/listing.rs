//! What a listing should contain, and decoding `encoding-type=url` values.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

/// Decodes a key or prefix from a listing that used `encoding-type=url`.
/// '+' is a space, as in form encoding (what S3 emits and boto3 decodes).
pub fn decode_listing_value(value: &str, encoded: bool) -> Result<String> {
    if !encoded {
        return Ok(value.to_string());
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .with_context(|| format!("truncated escape in {value:?}"))?;
                let hex =
                    std::str::from_utf8(hex).with_context(|| format!("bad escape in {value:?}"))?;
                out.push(
                    u8::from_str_radix(hex, 16)
                        .with_context(|| format!("bad escape in {value:?}"))?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).with_context(|| format!("{value:?} does not decode to UTF-8"))
}

/// The keys and common prefixes S3 returns for `prefix` and `delimiter` over
/// `keys`: keys whose rest (after the prefix) contains the delimiter roll up
/// into `prefix + rest-up-to-and-including-the-delimiter`.
pub fn expected_listing(
    keys: &[String],
    prefix: &str,
    delimiter: Option<&str>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut objects = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for key in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &key[prefix.len()..];
        match delimiter
            .filter(|d| !d.is_empty())
            .and_then(|d| rest.find(d).map(|i| i + d.len()))
        {
            Some(end) => {
                prefixes.insert(format!("{prefix}{}", &rest[..end]));
            }
            None => {
                objects.insert(key.clone());
            }
        }
    }
    (objects, prefixes)
}

/// Checks that a page respects `max_keys` (objects and prefixes together).
pub fn check_page_size(objects: usize, prefixes: usize, max_keys: usize) -> Result<()> {
    if objects + prefixes > max_keys {
        bail!("page holds {objects} keys and {prefixes} prefixes, more than max-keys {max_keys}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(
            decode_listing_value("a%2Fb+c%01", true).expect("decodes"),
            "a/b c\u{1}"
        );
        assert_eq!(
            decode_listing_value("a%2Fb+c", false).expect("as is"),
            "a%2Fb+c"
        );
        assert!(decode_listing_value("a%2", true).is_err());
    }

    #[test]
    fn rolls_up_common_prefixes() {
        let keys: Vec<String> = ["dir/a", "dir//b", "dir/sub/c", "dir/sub/d", "other"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (objs, pfx) = expected_listing(&keys, "dir/", Some("/"));
        assert_eq!(objs.into_iter().collect::<Vec<_>>(), vec!["dir/a"]);
        assert_eq!(
            pfx.into_iter().collect::<Vec<_>>(),
            vec!["dir//", "dir/sub/"]
        );
    }
}
