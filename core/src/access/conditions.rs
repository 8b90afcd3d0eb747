//! Bucket-policy conditions: AWS's condition operators over the condition
//! keys S3 requests carry. Pure: the S3 front end gathers a request's keys
//! into [`Facts`]; the object's own (its tags) come with it when the
//! object is known, and a condition that needs them otherwise is
//! [`Holds::Unknown`] (the caller decides again once it has the object).
//!
//! Semantics as AWS documents them: a condition block holds when every
//! operator in it holds; an operator when every key holds; a key when the
//! request's value matches any of the listed values (negated operators:
//! matches none). A key absent from the request fails a positive operator
//! and passes a negated one; `...IfExists` passes when the key is absent;
//! `Null` tests presence. `ForAnyValue:` / `ForAllValues:` compare a
//! multi-valued key value by value. Unknown operators and keys are refused
//! when the policy is set, never ignored.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde_json::Value;

use super::bucket_policy::PolicyError;

/// What a request says about itself, as condition keys (names in lower
/// case up to a `/`, as AWS compares them), and the object it addresses
/// when that is known.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub keys: BTreeMap<String, Vec<String>>,
    /// The object's tags, once the object is known; `None` before.
    pub object_tags: Option<HashMap<String, String>>,
}

impl Facts {
    /// The keys every request has, whatever its protocol: who is calling,
    /// from where, whether over TLS, and when. Both front ends start here.
    pub fn of_request(
        caller: &super::Caller,
        peer: Option<IpAddr>,
        secure: bool,
        now: time::OffsetDateTime,
    ) -> Facts {
        use super::Caller;
        let mut f = Facts::default();
        if let Some(ip) = peer {
            f.set("aws:SourceIp", ip.to_string());
        }
        f.set("aws:SecureTransport", secure.to_string());
        if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
            f.set("aws:CurrentTime", t);
        }
        f.set("aws:EpochTime", now.unix_timestamp().to_string());
        match caller {
            Caller::User(u) => {
                f.set("aws:username", u.clone());
                f.set("aws:userid", u.clone());
                f.set("aws:PrincipalType", "User");
            }
            Caller::Admin => f.set("aws:PrincipalType", "Account"),
            Caller::Anonymous => f.set("aws:PrincipalType", "Anonymous"),
        }
        f
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.keys.insert(normalize_key(key), vec![value.into()]);
    }

    pub fn set_many(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(normalize_key(key), values);
    }

    fn lookup(&self, key: &str) -> Lookup<'_> {
        if let Some(tag) = key.strip_prefix("s3:existingobjecttag/") {
            return match &self.object_tags {
                None => Lookup::Unknown,
                Some(tags) => match tags.get(tag) {
                    Some(v) => Lookup::Values(vec![v.as_str()]),
                    None => Lookup::Missing,
                },
            };
        }
        match self.keys.get(key) {
            Some(v) => Lookup::Values(v.iter().map(String::as_str).collect()),
            None => Lookup::Missing,
        }
    }

    /// `${aws:username}` and the like in a policy value.
    fn substitute(&self, value: &str) -> Option<String> {
        if !value.contains("${") {
            return Some(value.to_string());
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}')? + i;
            let var = normalize_key(&rest[i + 2..end]);
            let v = match var.as_str() {
                "*" => "*".to_string(),
                "?" => "?".to_string(),
                "$" => "$".to_string(),
                _ => self.keys.get(&var)?.first()?.clone(),
            };
            out.push_str(&v);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// Lower case up to the first `/` (tag names after it keep their case).
pub fn normalize_key(key: &str) -> String {
    match key.split_once('/') {
        Some((k, rest)) => format!("{}/{rest}", k.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

enum Lookup<'a> {
    Values(Vec<&'a str>),
    Missing,
    /// Needs the object, which is not known yet.
    Unknown,
}

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Yes,
    No,
    /// It depends on the object the request addresses.
    Unknown,
}

impl Holds {
    fn and(self, other: Holds) -> Holds {
        match (self, other) {
            (Holds::No, _) | (_, Holds::No) => Holds::No,
            (Holds::Unknown, _) | (_, Holds::Unknown) => Holds::Unknown,
            _ => Holds::Yes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Test {
    kind: Kind,
    negated: bool,
    if_exists: bool,
    set: Option<SetOp>,
    key: String,
    values: Vec<String>,
}

/// A statement's `Condition` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    tests: Vec<Test>,
}

fn operator(name: &str) -> Option<(Kind, bool)> {
    use Cmp::*;
    Some(match name {
        "StringEquals" => (Kind::String, false),
        "StringNotEquals" => (Kind::String, true),
        "StringEqualsIgnoreCase" => (Kind::StringIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Kind::StringIgnoreCase, true),
        "StringLike" => (Kind::StringLike, false),
        "StringNotLike" => (Kind::StringLike, true),
        "NumericEquals" => (Kind::Numeric(Eq), false),
        "NumericNotEquals" => (Kind::Numeric(Eq), true),
        "NumericLessThan" => (Kind::Numeric(Lt), false),
        "NumericLessThanEquals" => (Kind::Numeric(Le), false),
        "NumericGreaterThan" => (Kind::Numeric(Gt), false),
        "NumericGreaterThanEquals" => (Kind::Numeric(Ge), false),
        "DateEquals" => (Kind::Date(Eq), false),
        "DateNotEquals" => (Kind::Date(Eq), true),
        "DateLessThan" => (Kind::Date(Lt), false),
        "DateLessThanEquals" => (Kind::Date(Le), false),
        "DateGreaterThan" => (Kind::Date(Gt), false),
        "DateGreaterThanEquals" => (Kind::Date(Ge), false),
        "Bool" => (Kind::Bool, false),
        "BinaryEquals" => (Kind::Binary, false),
        "IpAddress" => (Kind::Ip, false),
        "NotIpAddress" => (Kind::Ip, true),
        "ArnEquals" => (Kind::Arn, false),
        "ArnNotEquals" => (Kind::Arn, true),
        "ArnLike" => (Kind::ArnLike, false),
        "ArnNotLike" => (Kind::ArnLike, true),
        "Null" => (Kind::Null, false),
        _ => return None,
    })
}

/// Condition keys a request can carry here.
const KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:securetransport",
    "aws:referer",
    "aws:useragent",
    "aws:currenttime",
    "aws:epochtime",
    "aws:username",
    "aws:userid",
    "aws:principaltype",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:principalaccount",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:versionid",
    "s3:x-amz-acl",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:x-amz-content-sha256",
    "s3:requestobjecttagkeys",
    "s3:signatureversion",
    "s3:authtype",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-legal-hold",
];

fn known_key(key: &str) -> bool {
    KEYS.contains(&key)
        || ["s3:existingobjecttag/", "s3:requestobjecttag/"]
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|t| !t.is_empty()))
}

fn values_of(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// Parses a statement's `Condition` object; `at` numbers the statement
    /// in errors.
    pub fn parse(v: &Value, at: usize) -> Result<Conditions, PolicyError> {
        let bad = |m: String| Err(PolicyError(format!("statement {at}: {m}")));
        let Value::Object(ops) = v else {
            return bad("Condition must be an object".into());
        };
        let mut tests = Vec::new();
        for (full, keys) in ops {
            let (set, rest) = if let Some(r) = full.strip_prefix("ForAnyValue:") {
                (Some(SetOp::AnyValue), r)
            } else if let Some(r) = full.strip_prefix("ForAllValues:") {
                (Some(SetOp::AllValues), r)
            } else {
                (None, full.as_str())
            };
            let (name, if_exists) = match rest.strip_suffix("IfExists") {
                Some(n) => (n, true),
                None => (rest, false),
            };
            let Some((kind, negated)) = operator(name) else {
                return bad(format!("unknown condition operator {full:?}"));
            };
            if kind == Kind::Null && (if_exists || set.is_some()) {
                return bad(format!("{full:?}: Null takes no qualifier"));
            }
            let Value::Object(keys) = keys else {
                return bad(format!("{full:?} must map condition keys to values"));
            };
            for (key, v) in keys {
                let key = normalize_key(key);
                if !known_key(&key) {
                    return bad(format!("invalid condition key {key:?}"));
                }
                let Some(values) = values_of(v) else {
                    return bad(format!(
                        "{full:?} {key:?}: values are strings, numbers or booleans"
                    ));
                };
                for value in &values {
                    check_value(kind, value).map_err(|m| {
                        PolicyError(format!("statement {at}: {full:?} {key:?}: {m}"))
                    })?;
                }
                tests.push(Test {
                    kind,
                    negated,
                    if_exists,
                    set,
                    key,
                    values,
                });
            }
        }
        Ok(Conditions { tests })
    }

    /// Whether every condition holds for `facts`.
    pub fn holds(&self, facts: &Facts) -> Holds {
        self.tests
            .iter()
            .fold(Holds::Yes, |acc, t| acc.and(t.holds(facts)))
    }

    /// Whether a condition keys on one of `keys` (with fixed values):
    /// what makes a policy statement non-public in AWS's sense.
    pub fn pins_any(&self, keys: &[&str]) -> bool {
        self.tests.iter().any(|t| {
            keys.contains(&t.key.as_str())
                && !t.negated
                && !t.if_exists
                && t.kind != Kind::Null
                && t.values
                    .iter()
                    .all(|v| !v.contains('*') && !v.contains("${"))
        })
    }
}

/// Checks that a policy value can be compared the way the operator asks.
fn check_value(kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Numeric(_) => value
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("{value:?} is not a number")),
        Kind::Date(_) => parse_date(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not a date")),
        Kind::Bool | Kind::Null => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("{value:?} is not true or false")),
        },
        Kind::Ip => Cidr::parse(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not an IP address or CIDR block")),
        _ => Ok(()),
    }
}

fn parse_date(s: &str) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .ok()?;
            Some(d.midnight().assume_utc())
        })?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, width) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        let bits = u32::from(self.bits);
        if bits == 0 {
            return true;
        }
        let shift = width - bits;
        (net >> shift) == (ip >> shift)
    }
}

/// `*` matches any run of characters, `?` one (case-sensitive).
pub(super) fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Test {
    fn holds(&self, facts: &Facts) -> Holds {
        let got = match facts.lookup(&self.key) {
            Lookup::Unknown => return Holds::Unknown,
            Lookup::Missing => None,
            Lookup::Values(v) => Some(v),
        };
        if self.kind == Kind::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return yes(got.is_none() == want_absent);
        }
        let Some(got) = got else {
            // Absent: positive operators fail, negated ones pass; over a
            // set, "all of none" holds and "any of none" does not, negated
            // or not.
            return yes(match self.set {
                Some(SetOp::AllValues) => true,
                Some(SetOp::AnyValue) => self.if_exists,
                None => self.if_exists || self.negated,
            });
        };
        let wanted: Vec<String> = self
            .values
            .iter()
            .filter_map(|v| facts.substitute(v))
            .collect();
        let one = |value: &str| {
            let m = wanted.iter().any(|w| self.matches(w, value));
            m != self.negated
        };
        yes(match self.set {
            Some(SetOp::AllValues) => got.iter().all(|v| one(v)),
            Some(SetOp::AnyValue) | None => got.iter().any(|v| one(v)),
        })
    }

    fn matches(&self, wanted: &str, value: &str) -> bool {
        match self.kind {
            Kind::String | Kind::Arn => wanted == value,
            Kind::StringIgnoreCase => wanted.eq_ignore_ascii_case(value),
            Kind::StringLike | Kind::ArnLike => like(wanted, value),
            Kind::Numeric(c) => match (wanted.parse::<f64>(), value.parse::<f64>()) {
                (Ok(w), Ok(v)) => compare(c, v, w),
                _ => false,
            },
            Kind::Date(c) => match (parse_date(wanted), parse_date(value)) {
                (Some(w), Some(v)) => compare(c, v, w),
                _ => false,
            },
            Kind::Bool => wanted.eq_ignore_ascii_case(value),
            Kind::Binary => wanted == value,
            Kind::Ip => match (Cidr::parse(wanted), value.parse::<IpAddr>()) {
                (Some(c), Ok(ip)) => c.contains(ip),
                _ => false,
            },
            Kind::Null => false,
        }
    }
}

fn yes(b: bool) -> Holds {
    if b {
        Holds::Yes
    } else {
        Holds::No
    }
}

fn compare(c: Cmp, value: f64, wanted: f64) -> bool {
    match c {
        Cmp::Eq => value == wanted,
        Cmp::Lt => value < wanted,
        Cmp::Le => value <= wanted,
        Cmp::Gt => value > wanted,
        Cmp::Ge => value >= wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(json: &str) -> Conditions {
        Conditions::parse(&serde_json::from_str(json).expect("json"), 1).expect("valid")
    }

    fn facts(pairs: &[(&str, &str)]) -> Facts {
        let mut f = Facts::default();
        for (k, v) in pairs {
            f.set(k, *v);
        }
        f
    }

    #[test]
    fn strings_numbers_and_absent_keys() {
        let c = cond(r#"{"StringEquals": {"s3:prefix": ["public/", "shared/"]}}"#);
        assert_eq!(c.holds(&facts(&[("s3:prefix", "public/")])), Holds::Yes);
        assert_eq!(c.holds(&facts(&[("s3:prefix", "private/")])), Holds::No);
        assert_eq!(c.holds(&facts(&[])), Holds::No);
        let c = cond(r#"{"StringNotEquals": {"s3:x-amz-acl": "public-read"}}"#);
        assert_eq!(c.holds(&facts(&[("s3:x-amz-acl", "private")])), Holds::Yes);
        assert_eq!(
            c.holds(&facts(&[("s3:x-amz-acl", "public-read")])),
            Holds::No
        );
        assert_eq!(c.holds(&facts(&[])), Holds::Yes, "absent: negated passes");
        let c = cond(r#"{"NumericLessThanEquals": {"s3:max-keys": 10}}"#);
        assert_eq!(c.holds(&facts(&[("s3:max-keys", "10")])), Holds::Yes);
        assert_eq!(c.holds(&facts(&[("s3:max-keys", "11")])), Holds::No);
        let c = cond(r#"{"StringLikeIfExists": {"aws:Referer": "https://portal.ihep/*"}}"#);
        assert_eq!(c.holds(&facts(&[])), Holds::Yes);
        assert_eq!(
            c.holds(&facts(&[("aws:referer", "https://portal.ihep/x")])),
            Holds::Yes
        );
        assert_eq!(
            c.holds(&facts(&[("aws:referer", "https://evil/")])),
            Holds::No
        );
        // Every operator and every key must hold.
        let c = cond(
            r#"{"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}, "Bool": {"aws:SecureTransport": "false"}}"#,
        );
        let mut f = facts(&[("s3:prefix", "a/"), ("s3:delimiter", "/")]);
        f.set("aws:SecureTransport", "false");
        assert_eq!(c.holds(&f), Holds::Yes);
        f.set("aws:SecureTransport", "true");
        assert_eq!(c.holds(&f), Holds::No);
    }

    #[test]
    fn addresses_dates_and_null() {
        let c = cond(r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#);
        assert_eq!(c.holds(&facts(&[("aws:sourceip", "10.1.2.3")])), Holds::Yes);
        assert_eq!(
            c.holds(&facts(&[("aws:sourceip", "2001:db8::1")])),
            Holds::Yes
        );
        assert_eq!(c.holds(&facts(&[("aws:sourceip", "127.0.0.1")])), Holds::No);
        let c = cond(r#"{"NotIpAddress": {"aws:SourceIp": "127.0.0.1/32"}}"#);
        assert_eq!(c.holds(&facts(&[("aws:sourceip", "127.0.0.1")])), Holds::No);
        let c = cond(r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#);
        assert_eq!(
            c.holds(&facts(&[("aws:currenttime", "2026-12-07T00:00:00Z")])),
            Holds::Yes
        );
        assert_eq!(
            c.holds(&facts(&[("aws:currenttime", "2027-06-01T00:00:00Z")])),
            Holds::No
        );
        let c = cond(r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#);
        assert_eq!(c.holds(&facts(&[])), Holds::Yes);
        assert_eq!(
            c.holds(&facts(&[("s3:x-amz-server-side-encryption", "AES256")])),
            Holds::No
        );
    }

    #[test]
    fn tags_sets_and_variables() {
        let c = cond(r#"{"StringEquals": {"s3:ExistingObjectTag/security": "public"}}"#);
        assert_eq!(c.holds(&Facts::default()), Holds::Unknown);
        let mut f = Facts {
            object_tags: Some([("security".to_string(), "public".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(c.holds(&f), Holds::Yes);
        f.object_tags = Some(HashMap::new());
        assert_eq!(c.holds(&f), Holds::No);
        let c = cond(r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}}"#);
        let mut f = Facts::default();
        f.set_many("s3:RequestObjectTagKeys", vec!["a".into(), "b".into()]);
        assert_eq!(c.holds(&f), Holds::Yes);
        f.set_many("s3:RequestObjectTagKeys", vec!["a".into(), "c".into()]);
        assert_eq!(c.holds(&f), Holds::No);
        let c = cond(r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["c"]}}"#);
        assert_eq!(c.holds(&f), Holds::Yes);
        // Without the key, "any" fails even negated and "all" holds.
        let none = Facts::default();
        let c = cond(r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["c"]}}"#);
        assert_eq!(c.holds(&f), Holds::Yes);
        assert_eq!(c.holds(&none), Holds::No);
        let c = cond(r#"{"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["c"]}}"#);
        assert_eq!(c.holds(&f), Holds::No);
        assert_eq!(c.holds(&none), Holds::Yes);
        let c = cond(r#"{"StringLike": {"s3:prefix": "home/${aws:username}/*"}}"#);
        let f = facts(&[("aws:username", "alice"), ("s3:prefix", "home/alice/x")]);
        assert_eq!(c.holds(&f), Holds::Yes);
        let f = facts(&[("aws:username", "bob"), ("s3:prefix", "home/alice/x")]);
        assert_eq!(c.holds(&f), Holds::No);
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for (json, want) in [
            (
                r#"{"StringSoundsLike": {"s3:prefix": "a"}}"#,
                "unknown condition operator",
            ),
            (
                r#"{"StringEquals": {"s3:nonsense": "a"}}"#,
                "invalid condition key",
            ),
            (
                r#"{"NumericEquals": {"s3:max-keys": "ten"}}"#,
                "not a number",
            ),
            (
                r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/99"}}"#,
                "not an IP",
            ),
            (
                r#"{"StringEquals": {"s3:prefix": {"a": 1}}}"#,
                "values are strings",
            ),
            (
                r#"{"NullIfExists": {"s3:prefix": "true"}}"#,
                "Null takes no qualifier",
            ),
        ] {
            let e =
                Conditions::parse(&serde_json::from_str(json).expect("json"), 2).expect_err(json);
            assert!(e.0.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn pinned_keys_make_a_statement_non_public() {
        let c = cond(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#);
        assert!(c.pins_any(&["aws:sourceip"]));
        let c = cond(r#"{"StringLike": {"aws:Referer": "*"}}"#);
        assert!(!c.pins_any(&["aws:referer", "aws:sourceip"]));
    }
}
