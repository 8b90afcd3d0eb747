//! Key layout of the catalogue column family.
//!
//! Keys are order-preserving byte strings: a one-byte table tag, then
//! big-endian ids, then raw key bytes. Objects of one bucket are contiguous
//! and sorted by key bytes (UTF-8 byte order, as S3 lists), so a listing is a
//! range scan, and a later split of the catalogue into key ranges (one Raft
//! group per range) needs no format change.
//!
//! | tag | key                                   | value            |
//! |-----|---------------------------------------|------------------|
//! | `B` | bucket name                           | BucketRecord     |
//! | `I` | bucket id (u64)                       | bucket name      |
//! | `O` | bucket id (u64), object key           | ObjectRecord     |
//! | `U` | upload id                             | MultipartUpload  |
//! | `W` | bucket id (u64), upload id            | (empty)          |
//! | `P` | upload id, 0x00, part number (u32)    | PartRecord       |
//! | `Q` | dest site (u32), bucket id, key       | version id       |
//! | `C` | `s`/`p` site (u32) or `b` bucket id    | Counter          |
//! | `N` | `bucket`                              | next bucket id   |
//! | `D` | request id                            | Outcome (JSON)   |
//! | `E` | log index (u64), request id           | (empty): expiry  |
//! | `S` | `policy`                              | PolicyRecord     |
//! | `X` | expiry ms (u64), bucket id (u64), key | (empty): lifetime |
//! | `T` | round (u64), index (u32)              | TransferOrder    |
//! | `V` | to site (u32), round (u64), index (u32)| (empty): pending |
//! | `R` | chunk hash (32 bytes)                 | (site, count) varints |
//! | `G` | site (u32), chunk hash (32 bytes)     | GcQueued: unreferenced |
//! | `A` | user name                             | UserRecord       |
//! | `K` | access key id                         | AccessKeyRecord  |
//! | `L` | user name, 0x00, access key id        | (empty): the user's keys |
//! | `H` | bucket id, key, 0x00, !seq (u64)      | ObjectRecord: noncurrent version or delete marker |
//! | `J` | bucket id, key, 0x00, version id      | seq (u64): where `H` holds it |
//! | `F` | upload id                             | CompletedUpload: a finished upload's answer |
//! | `M` | completed ms (u64), upload id         | (empty): when `F` goes |
//! | `Y` | dataset name                          | DatasetRecord    |
//! | `Z` | dataset name, 0x00, bucket, 0x00, key | (empty): a file attached to it |
//! | `y` | bucket, 0x00, key, 0x00, dataset name | (empty): the datasets a file is attached to |
//! | `z` | dataset name, 0x00, bucket, 0x00, key | ManifestEntry: a published dataset's file |
//! | `k` | bucket, 0x00, key                     | KeptBy: the published datasets that keep the file |
//! | `d` | site (u32), bucket id (u64), key      | (empty): a suspect or lost replica there |
//! | `s` | `p` site / `q` site / `a` site, bucket | ScrubProgress / AuditRequest / AuditReport |
//!
//! `H` sorts a key's older versions newest first (the sequence inverted);
//! `J` finds one by internal version id, and the null version also by
//! "null". Object keys never contain NUL (the gateway refuses them), so
//! `key, 0x00` is a key's own range.

pub const BUCKET: u8 = b'B';
pub const BUCKET_ID: u8 = b'I';
pub const OBJECT: u8 = b'O';
pub const UPLOAD: u8 = b'U';
pub const BUCKET_UPLOAD: u8 = b'W';
pub const PART: u8 = b'P';
pub const PENDING: u8 = b'Q';
pub const COUNTER: u8 = b'C';
pub const SEQUENCE: u8 = b'N';
pub const REQUEST: u8 = b'D';
pub const REQUEST_EXPIRY: u8 = b'E';
pub const SETTING: u8 = b'S';
pub const EXPIRY: u8 = b'X';
pub const ORDER: u8 = b'T';
pub const ORDER_TO: u8 = b'V';
pub const REFS: u8 = b'R';
pub const GC_QUEUE: u8 = b'G';
pub const USER: u8 = b'A';
pub const ACCESS_KEY: u8 = b'K';
pub const USER_KEY: u8 = b'L';
pub const HISTORY: u8 = b'H';
pub const VERSION_INDEX: u8 = b'J';
pub const COMPLETED_UPLOAD: u8 = b'F';
pub const COMPLETED_EXPIRY: u8 = b'M';
pub const DATASET: u8 = b'Y';
pub const DATASET_FILE: u8 = b'Z';
pub const FILE_DATASET: u8 = b'y';
pub const MANIFEST: u8 = b'z';
pub const KEPT: u8 = b'k';
pub const DATASET_METADATA: u8 = b'm';
/// Search indexes (`meridian_core::search`'s keys after this byte).
pub const SEARCH: u8 = b'q';
/// A file's access tally.
pub const ACCESS_TALLY: u8 = b'a';
/// Changes to datasets' membership, by sequence (`membership_log`).
pub const MEMBERSHIP: u8 = b'r';
/// Replicas found damaged (suspect or lost), by site (`integrity`).
pub const DAMAGED: u8 = b'd';
/// Scrub progress, audit requests and reports, by site (`integrity`).
pub const INTEGRITY: u8 = b's';

/// The S3 version id of a null version, and its `J` alias.
pub const NULL_VERSION: &str = "null";

pub fn history_prefix(bucket_id: u64) -> Vec<u8> {
    tagged(HISTORY, &bucket_id.to_be_bytes())
}

/// The range of one key's noncurrent versions.
pub fn key_history(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = history_prefix(bucket_id);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

pub fn history(bucket_id: u64, key: &str, seq: u64) -> Vec<u8> {
    let mut k = key_history(bucket_id, key);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// (object key, seq) of a history key of `bucket_id`.
pub fn parse_history(k: &[u8]) -> Option<(String, u64)> {
    if k.len() < 18 || k[0] != HISTORY || k[k.len() - 9] != 0 {
        return None;
    }
    let key = String::from_utf8(k[9..k.len() - 9].to_vec()).ok()?;
    let inv = u64::from_be_bytes(k[k.len() - 8..].try_into().ok()?);
    Some((key, !inv))
}

pub fn completed_upload(upload_id: &str) -> Vec<u8> {
    tagged(COMPLETED_UPLOAD, upload_id.as_bytes())
}

pub fn completed_expiry_prefix() -> Vec<u8> {
    vec![COMPLETED_EXPIRY]
}

pub fn completed_expiry(completed_ms: i64, upload_id: &str) -> Vec<u8> {
    // Times before the epoch do not occur; clamping keeps the order.
    let mut k = tagged(
        COMPLETED_EXPIRY,
        &(completed_ms.max(0) as u64).to_be_bytes(),
    );
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// (completed ms, upload id) of a `M` key.
pub fn parse_completed_expiry(k: &[u8]) -> Option<(i64, String)> {
    if k.len() < 9 || k[0] != COMPLETED_EXPIRY {
        return None;
    }
    let ms = u64::from_be_bytes(k[1..9].try_into().ok()?);
    let id = String::from_utf8(k[9..].to_vec()).ok()?;
    Some((i64::try_from(ms).ok()?, id))
}

pub fn version_index(bucket_id: u64, key: &str, version_id: &str) -> Vec<u8> {
    let mut k = tagged(VERSION_INDEX, &bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k.extend_from_slice(version_id.as_bytes());
    k
}

pub fn next_version_seq() -> Vec<u8> {
    tagged(SEQUENCE, b"version")
}

/// The sequence of the last membership change logged.
pub fn membership_head() -> Vec<u8> {
    tagged(SEQUENCE, b"membership")
}

pub fn membership_change(seq: u64) -> Vec<u8> {
    tagged(MEMBERSHIP, &seq.to_be_bytes())
}

pub fn user(name: &str) -> Vec<u8> {
    tagged(USER, name.as_bytes())
}

pub fn users_prefix() -> Vec<u8> {
    vec![USER]
}

pub fn access_key(id: &str) -> Vec<u8> {
    tagged(ACCESS_KEY, id.as_bytes())
}

pub fn user_keys_prefix(user: &str) -> Vec<u8> {
    let mut k = tagged(USER_KEY, user.as_bytes());
    k.push(0);
    k
}

pub fn user_key(user: &str, id: &str) -> Vec<u8> {
    let mut k = user_keys_prefix(user);
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn dataset(name: &str) -> Vec<u8> {
    tagged(DATASET, name.as_bytes())
}

pub fn datasets_prefix() -> Vec<u8> {
    vec![DATASET]
}

/// The range of a dataset's attached files.
pub fn dataset_files_prefix(name: &str) -> Vec<u8> {
    let mut k = tagged(DATASET_FILE, name.as_bytes());
    k.push(0);
    k
}

/// Dataset names, bucket names and keys hold no NUL, so each part ends
/// where its 0x00 is.
pub fn dataset_file(name: &str, bucket: &str, key: &str) -> Vec<u8> {
    triple(DATASET_FILE, name, bucket, key)
}

pub fn parse_dataset_file(k: &[u8]) -> Option<(String, String, String)> {
    k.first().filter(|t| **t == DATASET_FILE)?;
    parse_triple(k)
}

/// `tag`, then `a`, 0x00, `b`, 0x00, `c`: the shape of every dataset index.
fn triple(tag: u8, a: &str, b: &str, c: &str) -> Vec<u8> {
    let mut k = pair_prefix(tag, a, b);
    k.extend_from_slice(c.as_bytes());
    k
}

fn pair_prefix(tag: u8, a: &str, b: &str) -> Vec<u8> {
    let mut k = tagged(tag, a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k.push(0);
    k
}

/// The range of the datasets `bucket`/`key` is attached to.
pub fn file_datasets_prefix(bucket: &str, key: &str) -> Vec<u8> {
    pair_prefix(FILE_DATASET, bucket, key)
}

pub fn file_dataset(bucket: &str, key: &str, name: &str) -> Vec<u8> {
    triple(FILE_DATASET, bucket, key, name)
}

/// Where `bucket`/`key`'s access tally is.
pub fn access_tally(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = tagged(ACCESS_TALLY, bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Whether `k` lives in the search column family (`store::CF_SEARCH`)
/// rather than beside the records.
pub fn in_search_family(k: &[u8]) -> bool {
    k.first() == Some(&SEARCH)
}

/// A search index entry: the core's index key under [`SEARCH`].
pub fn search(index_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + index_key.len());
    k.push(SEARCH);
    k.extend_from_slice(index_key);
    k
}

/// The range of a dataset's metadata packages.
pub fn dataset_metadata_prefix(name: &str) -> Vec<u8> {
    let mut k = tagged(DATASET_METADATA, name.as_bytes());
    k.push(0);
    k
}

pub fn dataset_metadata(name: &str, package: &str) -> Vec<u8> {
    let mut k = dataset_metadata_prefix(name);
    k.extend_from_slice(package.as_bytes());
    k
}

pub fn manifest_prefix(name: &str) -> Vec<u8> {
    let mut k = tagged(MANIFEST, name.as_bytes());
    k.push(0);
    k
}

pub fn manifest_entry(name: &str, bucket: &str, key: &str) -> Vec<u8> {
    triple(MANIFEST, name, bucket, key)
}

/// Where the published datasets that keep `bucket`/`key` are listed: one
/// key, so a write checks it with a point read.
pub fn kept(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = tagged(KEPT, bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The three NUL-separated parts after a key's tag.
pub fn parse_triple(k: &[u8]) -> Option<(String, String, String)> {
    let (_, rest) = k.split_first()?;
    let mut parts = rest.splitn(3, |b| *b == 0);
    let a = std::str::from_utf8(parts.next()?).ok()?;
    let b = std::str::from_utf8(parts.next()?).ok()?;
    let c = std::str::from_utf8(parts.next()?).ok()?;
    Some((a.into(), b.into(), c.into()))
}

pub fn buckets_prefix() -> Vec<u8> {
    vec![BUCKET]
}

pub fn bucket(name: &str) -> Vec<u8> {
    tagged(BUCKET, name.as_bytes())
}

pub fn bucket_id(id: u64) -> Vec<u8> {
    tagged(BUCKET_ID, &id.to_be_bytes())
}

pub fn object_prefix(bucket_id: u64) -> Vec<u8> {
    tagged(OBJECT, &bucket_id.to_be_bytes())
}

pub fn object(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = object_prefix(bucket_id);
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn upload(upload_id: &str) -> Vec<u8> {
    tagged(UPLOAD, upload_id.as_bytes())
}

pub fn bucket_upload_prefix(bucket_id: u64) -> Vec<u8> {
    tagged(BUCKET_UPLOAD, &bucket_id.to_be_bytes())
}

pub fn bucket_upload(bucket_id: u64, upload_id: &str) -> Vec<u8> {
    let mut k = bucket_upload_prefix(bucket_id);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub fn part_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = tagged(PART, upload_id.as_bytes());
    k.push(0);
    k
}

pub fn part(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut k = part_prefix(upload_id);
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

pub fn pending_prefix(site: u32) -> Vec<u8> {
    tagged(PENDING, &site.to_be_bytes())
}

pub fn pending(site: u32, bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = pending_prefix(site);
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn orders_prefix() -> Vec<u8> {
    vec![ORDER]
}

pub fn round_prefix(round: u64) -> Vec<u8> {
    let mut k = vec![ORDER];
    k.extend_from_slice(&round.to_be_bytes());
    k
}

pub fn order(round: u64, index: u32) -> Vec<u8> {
    let mut k = round_prefix(round);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

pub fn orders_to_prefix(site: u32) -> Vec<u8> {
    tagged(ORDER_TO, &site.to_be_bytes())
}

/// A pending order for `site`, in round and plan order.
pub fn order_to(site: u32, round: u64, index: u32) -> Vec<u8> {
    let mut k = orders_to_prefix(site);
    k.extend_from_slice(&round.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// (round, index) of an `order_to` key.
pub fn parse_order_to(k: &[u8]) -> Option<(u64, u32)> {
    if k.len() != 17 || k[0] != ORDER_TO {
        return None;
    }
    Some((
        u64::from_be_bytes(k[5..13].try_into().ok()?),
        u32::from_be_bytes(k[13..17].try_into().ok()?),
    ))
}

pub fn expiry_prefix() -> Vec<u8> {
    vec![EXPIRY]
}

/// When an object's lifetime ends: ordered by time, so the due ones are a
/// prefix scan.
pub fn expiry(at_ms: i64, bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = vec![EXPIRY];
    k.extend_from_slice(&(at_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits an expiry key into (ms, bucket id, object key).
pub fn parse_expiry(k: &[u8]) -> Option<(i64, u64, String)> {
    if k.len() < 17 || k[0] != EXPIRY {
        return None;
    }
    let at = u64::from_be_bytes(k[1..9].try_into().ok()?);
    let bucket = u64::from_be_bytes(k[9..17].try_into().ok()?);
    let key = String::from_utf8(k[17..].to_vec()).ok()?;
    Some((i64::try_from(at).ok()?, bucket, key))
}

/// Splits a pending-index key into (site, bucket id, object key).
pub fn parse_pending(k: &[u8]) -> Option<(u32, u64, String)> {
    if k.len() < 13 || k[0] != PENDING {
        return None;
    }
    let site = u32::from_be_bytes(k[1..5].try_into().ok()?);
    let bucket = u64::from_be_bytes(k[5..13].try_into().ok()?);
    let key = String::from_utf8(k[13..].to_vec()).ok()?;
    Some((site, bucket, key))
}

/// A key as an error message names it: a counter by what it counts, any
/// other key in hex.
pub fn describe(k: &[u8]) -> String {
    let id = |b: &[u8]| -> Option<u64> {
        match b.len() {
            4 => Some(u64::from(u32::from_be_bytes(b.try_into().ok()?))),
            8 => Some(u64::from_be_bytes(b.try_into().ok()?)),
            _ => None,
        }
    };
    match k {
        [COUNTER, kind, rest @ ..] => {
            let what = match kind {
                b's' => "complete replicas at site",
                b'p' => "pending replicas at site",
                b'b' => "objects in bucket",
                b'g' => "reclaimable chunks at site",
                b'd' => "damaged replicas at site",
                _ => "unknown counter",
            };
            match id(rest) {
                Some(n) => format!("counter of {what} {n}"),
                None => format!("counter {}", hex::encode(k)),
            }
        }
        _ => hex::encode(k),
    }
}

/// Complete replicas held at a site.
pub fn site_counter(site: u32) -> Vec<u8> {
    let mut k = vec![COUNTER, b's'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

/// Replicas a site still has to receive.
pub fn pending_counter(site: u32) -> Vec<u8> {
    let mut k = vec![COUNTER, b'p'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

pub fn bucket_counter(bucket_id: u64) -> Vec<u8> {
    let mut k = vec![COUNTER, b'b'];
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k
}

/// Chunks queued for reclaiming at a site (objects: chunks, bytes: their
/// sizes).
pub fn gc_counter(site: u32) -> Vec<u8> {
    let mut k = vec![COUNTER, b'g'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

/// Replicas at a site found suspect or lost.
pub fn damaged_counter(site: u32) -> Vec<u8> {
    let mut k = vec![COUNTER, b'd'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

pub fn damaged_prefix(site: u32) -> Vec<u8> {
    tagged(DAMAGED, &site.to_be_bytes())
}

pub fn damaged(site: u32, bucket_id: u64, key: &str) -> Vec<u8> {
    let mut k = damaged_prefix(site);
    k.extend_from_slice(&bucket_id.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits a damaged-index key into (bucket id, object key).
pub fn parse_damaged(k: &[u8]) -> Option<(u64, String)> {
    if k.len() < 13 || k[0] != DAMAGED {
        return None;
    }
    let bucket = u64::from_be_bytes(k[5..13].try_into().ok()?);
    let key = String::from_utf8(k[13..].to_vec()).ok()?;
    Some((bucket, key))
}

pub fn scrub_progress(site: u32) -> Vec<u8> {
    let mut k = vec![INTEGRITY, b'p'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

pub fn audit_request(site: u32) -> Vec<u8> {
    let mut k = vec![INTEGRITY, b'q'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

pub fn audit_reports_prefix(site: u32) -> Vec<u8> {
    let mut k = vec![INTEGRITY, b'a'];
    k.extend_from_slice(&site.to_be_bytes());
    k
}

/// The last audit of `bucket` at `site` (empty bucket: the whole site).
pub fn audit_report(site: u32, bucket: &str) -> Vec<u8> {
    let mut k = audit_reports_prefix(site);
    k.extend_from_slice(bucket.as_bytes());
    k
}

/// Per site, how many replicas (of any state) and upload parts there list
/// the chunk; absent when none do anywhere.
pub fn refs(hash: &[u8]) -> Vec<u8> {
    tagged(REFS, hash)
}

pub fn gc_queue_prefix(site: u32) -> Vec<u8> {
    tagged(GC_QUEUE, &site.to_be_bytes())
}

/// A chunk no record at `site` references any more: its file may go.
pub fn gc_queue(site: u32, hash: &[u8]) -> Vec<u8> {
    let mut k = gc_queue_prefix(site);
    k.extend_from_slice(hash);
    k
}

/// The placement policy set by `policy apply`.
pub fn policy() -> Vec<u8> {
    tagged(SETTING, b"policy")
}

pub fn next_bucket_id() -> Vec<u8> {
    tagged(SEQUENCE, b"bucket")
}

pub fn request(id: &[u8]) -> Vec<u8> {
    tagged(REQUEST, id)
}

/// The ids first applied at log entry `index` (value: each id as one
/// length byte and its bytes). One key per entry, not per command: a
/// command then costs the catalogue two insertions (its record, its id),
/// not three.
pub fn request_expiry(index: u64) -> Vec<u8> {
    tagged(REQUEST_EXPIRY, &index.to_be_bytes())
}

/// Splits an expiry key into (log index, request id). The id is empty for
/// the per-entry keys; keys written before them carry one id each.
pub fn parse_request_expiry(k: &[u8]) -> Option<(u64, &[u8])> {
    if k.len() < 9 || k[0] != REQUEST_EXPIRY {
        return None;
    }
    Some((u64::from_be_bytes(k[1..9].try_into().ok()?), &k[9..]))
}

/// The smallest key greater than every key starting with `prefix`, or
/// `None` if there is none (prefix of all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn tagged(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_sort_by_key_bytes_within_a_bucket() {
        let mut keys = ["b", "a/", "a", "a\u{1}", "\u{7f}", "é", "a/b", "Z"];
        let mut encoded: Vec<_> = keys.iter().map(|k| object(7, k)).collect();
        encoded.sort();
        keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let decoded: Vec<_> = encoded
            .iter()
            .map(|k| String::from_utf8(k[9..].to_vec()).expect("utf8"))
            .collect();
        assert_eq!(decoded, keys);
        // Buckets do not interleave.
        assert!(object(7, "\u{10FFFF}") < object(8, ""));
    }

    #[test]
    fn history_sorts_by_key_then_newest_first() {
        let mut ks = [
            history(3, "a", 1),
            history(3, "a", 9),
            history(3, "ab", 5),
            history(3, "a/b", 2),
        ];
        ks.sort();
        let parsed: Vec<_> = ks
            .iter()
            .map(|k| parse_history(k).expect("parses"))
            .collect();
        assert_eq!(
            parsed,
            vec![
                ("a".to_string(), 9),
                ("a".to_string(), 1),
                ("a/b".to_string(), 2),
                ("ab".to_string(), 5)
            ]
        );
        assert!(history(3, "a", 1).starts_with(&key_history(3, "a")));
        assert!(!history(3, "ab", 1).starts_with(&key_history(3, "a")));
    }

    #[test]
    fn pending_roundtrip() {
        let k = pending(5, 42, "raw/run-1");
        assert_eq!(parse_pending(&k), Some((5, 42, "raw/run-1".to_string())));
        assert!(k.starts_with(&pending_prefix(5)));
    }

    #[test]
    fn dataset_files_roundtrip_and_stay_in_their_range() {
        let k = dataset_file("juno-run42", "juno", "raw/a b");
        assert_eq!(
            parse_dataset_file(&k),
            Some(("juno-run42".into(), "juno".into(), "raw/a b".into()))
        );
        assert!(k.starts_with(&dataset_files_prefix("juno-run42")));
        assert!(!dataset_file("juno-run42x", "juno", "k")
            .starts_with(&dataset_files_prefix("juno-run42")));
        assert!(
            file_dataset("juno", "raw/a", "d").starts_with(&file_datasets_prefix("juno", "raw/a"))
        );
        assert!(!file_dataset("juno", "raw/ab", "d")
            .starts_with(&file_datasets_prefix("juno", "raw/a")));
    }

    #[test]
    fn prefix_end_bounds_the_range() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
