//! Who may do what to a bucket: owners, grants and bucket policies. Pure:
//! the S3 front end gathers the caller and the bucket's record, and asks.
//!
//! The decision, in order:
//! 1. the administrator (the root key) may do anything;
//! 2. a policy statement that denies the action to the caller (by name, or
//!    `*`) wins over everything below;
//! 3. the bucket's owner may do anything to it; a grant covers its level
//!    (`read`: get and list; `write`: also put and delete; `owner`: also the
//!    bucket's settings);
//! 4. a policy statement that allows it;
//! 5. otherwise: denied. Anonymous callers get through only at 4, by a
//!    statement whose principal is `*` (a public-read bucket).
//!
//! Bucket policies are the subset of AWS's JSON that says "the JUNO group
//! reads, only the DAQ key writes": `Effect` Allow or Deny, `Principal` `*`
//! or user names (plain or as `arn:aws:iam::ACCOUNT:user/NAME`), `Action`
//! among s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket (or
//! `s3:*`), `Resource` the bucket (`arn:aws:s3:::BUCKET`) or its objects
//! (`arn:aws:s3:::BUCKET/PATTERN`, `*` and `?` wildcards). Anything else
//! (conditions, NotAction, other actions or buckets) is refused when the
//! policy is set, never silently ignored.

use serde_json::Value;

/// What a request does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    GetObject,
    PutObject,
    DeleteObject,
    ListBucket,
    /// Deleting the bucket, changing its grants or policy.
    Administer,
}

impl Action {
    fn policy_name(self) -> Option<&'static str> {
        Some(match self {
            Action::GetObject => "s3:GetObject",
            Action::PutObject => "s3:PutObject",
            Action::DeleteObject => "s3:DeleteObject",
            Action::ListBucket => "s3:ListBucket",
            Action::Administer => return None,
        })
    }

    /// Whether it acts on objects (resource `bucket/key`) or the bucket.
    fn on_objects(self) -> bool {
        matches!(
            self,
            Action::GetObject | Action::PutObject | Action::DeleteObject
        )
    }
}

/// A grant's level; each includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read = 1,
    Write = 2,
    Owner = 3,
}

impl Level {
    pub fn from_i32(v: i32) -> Option<Level> {
        match v {
            1 => Some(Level::Read),
            2 => Some(Level::Write),
            3 => Some(Level::Owner),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "owner" => Some(Level::Owner),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Owner => "owner",
        }
    }

    fn covers(self, a: Action) -> bool {
        let needed = match a {
            Action::GetObject | Action::ListBucket => Level::Read,
            Action::PutObject | Action::DeleteObject => Level::Write,
            Action::Administer => Level::Owner,
        };
        self >= needed
    }
}

/// The caller: a user (by name), the administrator, or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    User(String),
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    /// User names; `*` for anyone, anonymous callers included.
    principals: Vec<String>,
    actions: Vec<Action>,
    /// Patterns over `BUCKET` (the bucket) and `BUCKET/KEY` (objects).
    resources: Vec<String>,
}

/// A parsed, validated bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicy {
    statements: Vec<Statement>,
}

/// Why a policy text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bucket policy: {0}")]
pub struct PolicyError(pub String);

fn bad<T>(m: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(m.into()))
}

/// A string or a list of strings, as AWS policies allow for most fields.
fn strings(v: &Value, field: &str, at: usize) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => bad(format!("statement {at}: {field} lists a non-string")),
            })
            .collect(),
        _ => bad(format!(
            "statement {at}: {field} must be a string or a non-empty list of strings"
        )),
    }
}

fn principal_name(p: &str, at: usize) -> Result<String, PolicyError> {
    if p == "*" {
        return Ok(p.to_string());
    }
    if let Some(rest) = p.strip_prefix("arn:aws:iam::") {
        return match rest.split_once(":user/") {
            Some((_, name)) if !name.is_empty() => Ok(name.to_string()),
            _ => bad(format!(
                "statement {at}: principal {p:?} is not arn:aws:iam::ACCOUNT:user/NAME"
            )),
        };
    }
    if p.is_empty() || p.contains(':') {
        return bad(format!(
            "statement {at}: principal {p:?} is not a user name"
        ));
    }
    Ok(p.to_string())
}

fn action(a: &str, at: usize) -> Result<Vec<Action>, PolicyError> {
    Ok(match a {
        "s3:*" => vec![
            Action::GetObject,
            Action::PutObject,
            Action::DeleteObject,
            Action::ListBucket,
        ],
        "s3:GetObject" => vec![Action::GetObject],
        "s3:PutObject" => vec![Action::PutObject],
        "s3:DeleteObject" => vec![Action::DeleteObject],
        "s3:ListBucket" => vec![Action::ListBucket],
        other => {
            return bad(format!(
                "statement {at}: action {other:?} is not supported (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:*)"
            ))
        }
    })
}

impl BucketPolicy {
    /// Parses and checks a policy for `bucket`.
    pub fn parse(text: &str, bucket: &str) -> Result<BucketPolicy, PolicyError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| PolicyError(format!("not JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return bad("the policy must be a JSON object");
        };
        for k in doc.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return bad(format!("unknown field {k:?} (Version, Id, Statement)"));
            }
        }
        let stmts = match doc.get("Statement") {
            Some(Value::Array(s)) if !s.is_empty() => s.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => return bad("Statement must be a statement or a non-empty list of them"),
        };
        let mut statements = Vec::new();
        for (i, s) in stmts.iter().enumerate() {
            let at = i + 1;
            let Value::Object(s) = s else {
                return bad(format!("statement {at} is not an object"));
            };
            for k in s.keys() {
                if !matches!(
                    k.as_str(),
                    "Sid" | "Effect" | "Principal" | "Action" | "Resource"
                ) {
                    return bad(format!(
                        "statement {at}: field {k:?} is not supported (Sid, Effect, Principal, Action, Resource)"
                    ));
                }
            }
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return bad(format!("statement {at}: Effect must be Allow or Deny")),
            };
            let principals = match s.get("Principal") {
                Some(Value::String(p)) if p == "*" => vec!["*".to_string()],
                Some(Value::Object(p)) => {
                    if p.keys().any(|k| k != "AWS") {
                        return bad(format!("statement {at}: Principal takes only \"AWS\""));
                    }
                    let v = p.get("AWS").cloned().unwrap_or(Value::Null);
                    strings(&v, "Principal.AWS", at)?
                        .iter()
                        .map(|p| principal_name(p, at))
                        .collect::<Result<_, _>>()?
                }
                _ => {
                    return bad(format!(
                        "statement {at}: Principal must be \"*\" or {{\"AWS\": ...}}"
                    ))
                }
            };
            let mut actions = Vec::new();
            let av = s.get("Action").cloned().unwrap_or(Value::Null);
            for a in strings(&av, "Action", at)? {
                actions.extend(action(&a, at)?);
            }
            let rv = s.get("Resource").cloned().unwrap_or(Value::Null);
            let mut resources = Vec::new();
            for r in strings(&rv, "Resource", at)? {
                let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
                    return bad(format!(
                        "statement {at}: resource {r:?} is not arn:aws:s3:::BUCKET[/KEY]"
                    ));
                };
                let named = rest.split('/').next().unwrap_or("");
                if named != bucket {
                    return bad(format!(
                        "statement {at}: resource {r:?} is not in bucket {bucket:?}"
                    ));
                }
                resources.push(rest.to_string());
            }
            statements.push(Statement {
                effect,
                principals,
                actions,
                resources,
            });
        }
        Ok(BucketPolicy { statements })
    }

    /// The statements' verdict for `caller` doing `action` on `resource`:
    /// `Some(Deny)` if any denies, else `Some(Allow)` if any allows.
    fn verdict(&self, caller: &Caller, action: Action, resource: &str) -> Option<Effect> {
        let mut allowed = false;
        for s in &self.statements {
            let who = s
                .principals
                .iter()
                .any(|p| p == "*" || matches!(caller, Caller::User(name) if name == p));
            if !who || !s.actions.contains(&action) {
                continue;
            }
            if !s.resources.iter().any(|r| glob(r, resource)) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Some(Effect::Deny),
                Effect::Allow => allowed = true,
            }
        }
        allowed.then_some(Effect::Allow)
    }
}

/// `*` matches any run of characters (`/` included, as in AWS), `?` one.
fn glob(pattern: &str, text: &str) -> bool {
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

/// A bucket's permissions, as its record holds them.
#[derive(Debug, Clone, Default)]
pub struct BucketAccess {
    pub name: String,
    pub owner: String,
    /// The site it ingests at (its region).
    pub site: u32,
    /// Its versioning state (`Versioning`), for the headers reads answer.
    pub versioning: u32,
    pub grants: Vec<(String, Level)>,
    pub policy: Option<BucketPolicy>,
    /// The bucket's CORS rules, cached with its permissions for the
    /// preflight requests that come unsigned.
    pub cors: Vec<meridian_proto::v1::CorsRule>,
    /// Its lifecycle rules, for the expiry reads and writes announce.
    pub lifecycle: Vec<meridian_proto::v1::LifecycleRule>,
}

/// Whether `caller` may do `action` on `bucket` (and `key`, for object
/// actions).
pub fn allowed(caller: &Caller, bucket: &BucketAccess, action: Action, key: Option<&str>) -> bool {
    if *caller == Caller::Admin {
        return true;
    }
    let resource = match (action.on_objects(), key) {
        (true, Some(k)) => format!("{}/{k}", bucket.name),
        (true, None) => format!("{}/", bucket.name),
        (false, _) => bucket.name.clone(),
    };
    let verdict = action
        .policy_name()
        .and(bucket.policy.as_ref())
        .and_then(|p| p.verdict(caller, action, &resource));
    if verdict == Some(Effect::Deny) {
        return false;
    }
    if let Caller::User(name) = caller {
        if *name == bucket.owner {
            return true;
        }
        if bucket
            .grants
            .iter()
            .any(|(u, level)| u == name && level.covers(action))
        {
            return true;
        }
    }
    verdict == Some(Effect::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUNO: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["alice", "arn:aws:iam::123:user/bob"]},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::juno", "arn:aws:s3:::juno/*"]},
        {"Effect": "Allow", "Principal": {"AWS": "daq"},
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::juno/raw/*"},
        {"Effect": "Deny", "Principal": "*",
         "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::juno/raw/*"}
      ]
    }"#;

    fn juno() -> BucketAccess {
        BucketAccess {
            name: "juno".into(),
            owner: "ops".into(),
            site: 1,
            versioning: 0,
            grants: vec![("carol".into(), Level::Write)],
            policy: Some(BucketPolicy::parse(JUNO, "juno").expect("parses")),
            cors: vec![],
            lifecycle: vec![],
        }
    }

    fn user(n: &str) -> Caller {
        Caller::User(n.into())
    }

    #[test]
    fn the_group_reads_only_the_daq_key_writes_and_deny_wins() {
        let b = juno();
        let obj = Some("raw/run1.h5");
        for who in ["alice", "bob"] {
            assert!(allowed(&user(who), &b, Action::GetObject, obj), "{who}");
            assert!(allowed(&user(who), &b, Action::ListBucket, None), "{who}");
            assert!(!allowed(&user(who), &b, Action::PutObject, obj), "{who}");
        }
        assert!(allowed(&user("daq"), &b, Action::PutObject, obj));
        assert!(!allowed(
            &user("daq"),
            &b,
            Action::PutObject,
            Some("calib/x")
        ));
        assert!(!allowed(&user("daq"), &b, Action::GetObject, obj));
        // A write grant, and the owner, lose to the explicit deny...
        assert!(allowed(&user("carol"), &b, Action::PutObject, obj));
        assert!(!allowed(&user("carol"), &b, Action::DeleteObject, obj));
        assert!(!allowed(&user("ops"), &b, Action::DeleteObject, obj));
        // ...outside it they hold.
        assert!(allowed(
            &user("carol"),
            &b,
            Action::DeleteObject,
            Some("tmp/x")
        ));
        assert!(allowed(&user("ops"), &b, Action::Administer, None));
        assert!(!allowed(&user("carol"), &b, Action::Administer, None));
        // The administrator is above policies.
        assert!(allowed(&Caller::Admin, &b, Action::DeleteObject, obj));
        assert!(!allowed(&Caller::Anonymous, &b, Action::GetObject, obj));
        assert!(!allowed(&user("eve"), &b, Action::ListBucket, None));
    }

    #[test]
    fn grants_cover_their_level() {
        let mut b = juno();
        b.policy = None;
        b.grants = vec![("r".into(), Level::Read), ("o".into(), Level::Owner)];
        assert!(allowed(&user("r"), &b, Action::GetObject, Some("k")));
        assert!(allowed(&user("r"), &b, Action::ListBucket, None));
        assert!(!allowed(&user("r"), &b, Action::PutObject, Some("k")));
        assert!(!allowed(&user("r"), &b, Action::DeleteObject, Some("k")));
        assert!(allowed(&user("o"), &b, Action::Administer, None));
    }

    #[test]
    fn public_read_lets_anonymous_callers_get_and_list_only() {
        let text = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::pub", "arn:aws:s3:::pub/*"]}}"#;
        let b = BucketAccess {
            name: "pub".into(),
            owner: "ops".into(),
            site: 1,
            versioning: 0,
            grants: vec![],
            policy: Some(BucketPolicy::parse(text, "pub").expect("parses")),
            cors: vec![],
            lifecycle: vec![],
        };
        assert!(allowed(
            &Caller::Anonymous,
            &b,
            Action::GetObject,
            Some("a/b")
        ));
        assert!(allowed(&Caller::Anonymous, &b, Action::ListBucket, None));
        assert!(!allowed(
            &Caller::Anonymous,
            &b,
            Action::PutObject,
            Some("a")
        ));
        assert!(!allowed(&Caller::Anonymous, &b, Action::Administer, None));
    }

    #[test]
    fn policies_outside_the_subset_are_refused_with_the_reason() {
        let cases = [
            ("[]", "JSON object"),
            ("{\"Statement\": []}", "non-empty"),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:PutBucketAcl", "Resource": "arn:aws:s3:::b"}}"#,
                "not supported",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}}"#,
                "not in bucket",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {}}}"#,
                "Condition",
            ),
            (
                r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}}"#,
                "Allow or Deny",
            ),
        ];
        for (text, want) in cases {
            let e = BucketPolicy::parse(text, "b").expect_err(text);
            assert!(e.0.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("b/*", "b/x/y"));
        assert!(glob("b/raw/*.h5", "b/raw/2026/run.h5"));
        assert!(!glob("b/raw/*.h5", "b/raw/run.txt"));
        assert!(glob("b/r?n", "b/run"));
        assert!(glob("b", "b"));
        assert!(!glob("b", "b/x"));
        assert!(glob("*", ""));
    }
}
