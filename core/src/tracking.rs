//! Who read and wrote what: one event per object request through S3 or
//! gRPC, written by each node to its own append-only log (JSON lines) and
//! shipped to the catalogue as per-file tallies, so no request waits for
//! a Raft write. Pure: the events, their line form, and the tallies they
//! add up to.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::CoreError;

/// Distinct users a tally names before it only counts that there were more.
pub const MAX_USERS: usize = 256;

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "read" => Some(Action::Read),
            "write" => Some(Action::Write),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// One object request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    pub time_ms: i64,
    /// A user name, `key:ACCESSKEY` not yet resolved to one, `admin` or
    /// `anonymous`.
    pub who: String,
    /// `s3` or `grpc`.
    pub protocol: &'static str,
    pub action: Action,
    pub bucket: String,
    pub key: String,
    /// Bytes served (a read) or received (a write).
    pub bytes: u64,
    /// The site whose endpoint answered.
    pub site: String,
    /// The HTTP status (S3) or the gRPC code's number plus 1000.
    pub status: u32,
}

impl AccessEvent {
    /// Whether the request did what it asked (a 2xx, or gRPC OK).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) || self.status == 1000
    }

    /// One line of the log (no newline).
    pub fn to_line(&self) -> String {
        let mut line = Vec::with_capacity(128 + self.key.len());
        self.write_line(&mut line);
        // Only `str`s and numbers went in: always UTF-8.
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Appends the line (no newline) to `out`. Written field by field, the
    /// strings escaped by serde_json straight into `out`: the writer makes
    /// one per request, and a JSON tree per line cost several allocations.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail, nor can serializing a str.
        let _ = write!(out, r#"{{"t":{},"who":"#, self.time_ms);
        let _ = serde_json::to_writer(&mut *out, &self.who);
        let _ = write!(
            out,
            r#","proto":"{}","op":"{}","bucket":"#,
            self.protocol,
            self.action.name()
        );
        let _ = serde_json::to_writer(&mut *out, &self.bucket);
        out.extend_from_slice(br#","key":"#);
        let _ = serde_json::to_writer(&mut *out, &self.key);
        let _ = write!(out, r#","bytes":{},"site":"#, self.bytes);
        let _ = serde_json::to_writer(&mut *out, &self.site);
        let _ = write!(out, r#","status":{}}}"#, self.status);
    }

    /// An event from a line of the log.
    pub fn from_line(line: &str) -> Result<AccessEvent, CoreError> {
        let bad = |why: &str| CoreError::InvalidArgument(format!("access log line: {why}"));
        // Typed, borrowing what needs no unescaping: the shipper reads
        // every line every node writes, and a JSON tree per line cost
        // several allocations each.
        let l: Line<'_> = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        Ok(AccessEvent {
            time_ms: l.t,
            who: l.who.into_owned(),
            protocol: match &*l.proto {
                "s3" => "s3",
                "grpc" => "grpc",
                _ => return Err(bad("proto is s3 or grpc")),
            },
            action: Action::parse(&l.op).ok_or_else(|| bad("op is read, write or delete"))?,
            bucket: l.bucket.into_owned(),
            key: l.key.into_owned(),
            bytes: l.bytes,
            site: l.site.into_owned(),
            status: l.status,
        })
    }
}

/// A log line as it is parsed.
#[derive(serde::Deserialize)]
struct Line<'a> {
    t: i64,
    #[serde(borrow)]
    who: Cow<'a, str>,
    #[serde(borrow)]
    proto: Cow<'a, str>,
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    bucket: Cow<'a, str>,
    #[serde(borrow)]
    key: Cow<'a, str>,
    bytes: u64,
    #[serde(borrow, default)]
    site: Cow<'a, str>,
    status: u32,
}

/// What a file (or a dataset, summed over its files) saw: successful
/// requests only; refusals and failures stay in the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub reads: u64,
    pub read_bytes: u64,
    pub writes: u64,
    pub write_bytes: u64,
    pub deletes: u64,
    /// Distinct users, up to [`MAX_USERS`].
    pub users: std::collections::BTreeSet<String>,
    /// More users than `users` names were seen.
    pub users_overflow: bool,
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Tally {
    pub fn add(&mut self, e: &AccessEvent) {
        if !e.succeeded() {
            return;
        }
        match e.action {
            Action::Read => {
                self.reads += 1;
                self.read_bytes += e.bytes;
            }
            Action::Write => {
                self.writes += 1;
                self.write_bytes += e.bytes;
            }
            Action::Delete => self.deletes += 1,
        }
        self.see(&e.who);
        self.at(e.time_ms, e.time_ms);
    }

    fn see(&mut self, who: &str) {
        if self.users.contains(who) {
            return;
        }
        if self.users.len() < MAX_USERS {
            self.users.insert(who.to_string());
        } else {
            self.users_overflow = true;
        }
    }

    fn at(&mut self, first: i64, last: i64) {
        if first > 0 && (self.first_ms == 0 || first < self.first_ms) {
            self.first_ms = first;
        }
        self.last_ms = self.last_ms.max(last);
    }

    /// Adds `other` (another period, another node, another file).
    pub fn merge(&mut self, other: &Tally) {
        self.reads += other.reads;
        self.read_bytes += other.read_bytes;
        self.writes += other.writes;
        self.write_bytes += other.write_bytes;
        self.deletes += other.deletes;
        for u in &other.users {
            self.see(u);
        }
        self.users_overflow |= other.users_overflow;
        self.at(other.first_ms, other.last_ms);
    }

    pub fn is_empty(&self) -> bool {
        self.reads == 0 && self.writes == 0 && self.deletes == 0
    }
}

/// One file's tally in a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTally {
    pub bucket: String,
    pub key: String,
    pub tally: Tally,
}

/// Files one shipment command carries at most.
pub const MAX_SHIPMENT_FILES: usize = 10_000;

/// Per-file tallies of a run of events, keyed by (bucket, key); events
/// whose `who` is an access key are named by `resolve` first.
pub fn tally_events<'a>(
    events: impl IntoIterator<Item = &'a AccessEvent>,
    resolve: impl Fn(&str) -> String,
) -> BTreeMap<(String, String), Tally> {
    let mut out: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for e in events {
        let mut e = e.clone();
        e.who = resolve(&e.who);
        out.entry((e.bucket.clone(), e.key.clone()))
            .or_default()
            .add(&e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(who: &str, action: Action, bytes: u64, status: u32, t: i64) -> AccessEvent {
        AccessEvent {
            time_ms: t,
            who: who.into(),
            protocol: "s3",
            action,
            bucket: "juno".into(),
            key: "raw/a.root".into(),
            bytes,
            site: "Beijing".into(),
            status,
        }
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_refused() {
        let e = ev("alice", Action::Read, 4096, 200, 7);
        assert_eq!(AccessEvent::from_line(&e.to_line()), Ok(e));
        // Keys that need escaping come back as they were.
        let mut odd = ev("key:MK\"1", Action::Write, 1, 200, 8);
        odd.key = "runs/\"quoted\"\\back\nline\ttab\u{1}/\u{00e9}\u{1F600}".into();
        assert_eq!(AccessEvent::from_line(&odd.to_line()), Ok(odd));
        assert!(AccessEvent::from_line("{\"t\": 1}").is_err());
        assert!(AccessEvent::from_line("not json").is_err());
        let ftp = ev("a", Action::Read, 1, 200, 9)
            .to_line()
            .replace("\"s3\"", "\"ftp\"");
        let e = AccessEvent::from_line(&ftp).expect_err("an unknown protocol");
        assert!(e.to_string().contains("proto is s3 or grpc"), "{e}");
    }

    #[test]
    fn tallies_count_successes_users_and_times() {
        let events = [
            ev("alice", Action::Read, 100, 200, 5),
            ev("key:MK1", Action::Read, 50, 206, 9),
            ev("bob", Action::Read, 100, 403, 11),
            ev("alice", Action::Write, 10, 200, 3),
        ];
        let t = tally_events(&events, |w| {
            if w == "key:MK1" {
                "carol".into()
            } else {
                w.into()
            }
        });
        let a = &t[&("juno".to_string(), "raw/a.root".to_string())];
        assert_eq!(
            (a.reads, a.read_bytes, a.writes, a.write_bytes),
            (2, 150, 1, 10)
        );
        assert_eq!(a.users.iter().collect::<Vec<_>>(), ["alice", "carol"]);
        assert_eq!((a.first_ms, a.last_ms), (3, 9));
        let mut many = Tally::default();
        for i in 0..MAX_USERS + 3 {
            many.add(&ev(&format!("u{i}"), Action::Read, 1, 200, 1));
        }
        assert!(many.users.len() == MAX_USERS && many.users_overflow);
        let mut sum = a.clone();
        sum.merge(&many);
        assert_eq!(sum.reads, 2 + MAX_USERS as u64 + 3);
        assert!(sum.users_overflow);
    }
}
