//! Bucket policies: AWS's JSON, checked when set and evaluated per
//! request. Statements have `Effect`, `Principal` or `NotPrincipal` (the
//! latter with Deny only), `Action` or `NotAction` (S3 action names and
//! patterns such as `s3:Get*`, case-insensitive), `Resource` or
//! `NotResource` (`arn:aws:s3:::BUCKET` and `arn:aws:s3:::BUCKET/KEY`
//! patterns, `${aws:username}` allowed), and `Condition`
//! ([`super::conditions`]). A resource that cannot apply to the bucket
//! (another bucket's name) is refused, as AWS refuses it; a pattern that
//! also matches other buckets (`arn:aws:s3:::*`) is accepted and applies
//! here. Principals are `*`, user names (plain, as
//! `arn:aws:iam::ACCOUNT:user/NAME`, or `{"CanonicalUser": NAME}`), and
//! `arn:aws:iam::ACCOUNT:root` for every signed user.

use serde_json::Value;

use super::actions::{is_object_action, KNOWN};
use super::conditions::{like, Conditions, Facts, Holds};
use super::Caller;

/// What a policy may name: a bucket's (S3 actions on `arn:aws:s3:::`) or
/// a dataset's (Meridian's dataset actions on `arn:meridian:dataset:::`).
/// The statements, principals and conditions are the same language.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The service prefix of its actions, lower case (`s3:`).
    service: &'static str,
    /// What its actions are called in a refusal.
    label: &'static str,
    arn: &'static str,
    /// The resource it governs, for messages.
    what: &'static str,
    known: &'static [&'static str],
    /// Whether an action acts on a `NAME/KEY` resource.
    object_action: fn(&str) -> bool,
}

/// Bucket policies.
pub const S3: Dialect = Dialect {
    service: "s3:",
    label: "an S3 action",
    arn: "arn:aws:s3:::",
    what: "bucket",
    known: KNOWN,
    object_action: is_object_action,
};

/// Dataset policies ([`super::dataset`]).
pub const DATASET: Dialect = Dialect {
    service: "meridian:",
    label: "a Meridian dataset action",
    arn: "arn:meridian:dataset:::",
    what: "dataset",
    known: super::dataset::ACTIONS,
    object_action: |_| false,
};

/// Why a policy text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bucket policy: {0}")]
pub struct PolicyError(pub String);

fn bad<T>(m: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(m.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    Anyone,
    /// Every signed caller (an account's root: all its users).
    Signed,
    User(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    /// `NotPrincipal`: everyone but these.
    not_principal: bool,
    principals: Vec<Principal>,
    not_action: bool,
    /// Lower-case patterns.
    actions: Vec<String>,
    not_resource: bool,
    /// Patterns over `BUCKET` and `BUCKET/KEY`.
    resources: Vec<String>,
    conditions: Conditions,
}

/// A parsed, validated bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicy {
    statements: Vec<Statement>,
}

/// What a policy says about one request: whether a statement denies it,
/// and whether one allows it (each may depend on the object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub deny: Holds,
    pub allow: Holds,
}

/// A string or a non-empty list of strings, as AWS policies allow.
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

fn principal(p: &str, at: usize) -> Result<Principal, PolicyError> {
    if p == "*" {
        return Ok(Principal::Anyone);
    }
    if let Some(rest) = p.strip_prefix("arn:aws:iam::") {
        if rest.ends_with(":root") {
            return Ok(Principal::Signed);
        }
        return match rest.split_once(":user/") {
            Some((_, name)) if !name.is_empty() => Ok(Principal::User(name.to_string())),
            _ => bad(format!(
                "statement {at}: principal {p:?} is not arn:aws:iam::ACCOUNT:user/NAME or :root"
            )),
        };
    }
    if p.is_empty() || p.contains(':') {
        return bad(format!(
            "statement {at}: principal {p:?} is not a user name"
        ));
    }
    Ok(Principal::User(p.to_string()))
}

fn principals(v: &Value, at: usize) -> Result<Vec<Principal>, PolicyError> {
    match v {
        Value::String(p) if p == "*" => Ok(vec![Principal::Anyone]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, v) in map {
                if kind != "AWS" && kind != "CanonicalUser" {
                    return bad(format!(
                        "statement {at}: Principal takes \"AWS\" or \"CanonicalUser\", not {kind:?}"
                    ));
                }
                for p in strings(v, &format!("Principal.{kind}"), at)? {
                    out.push(principal(&p, at)?);
                }
            }
            if out.is_empty() {
                return bad(format!("statement {at}: Principal names no one"));
            }
            Ok(out)
        }
        _ => bad(format!(
            "statement {at}: Principal must be \"*\" or {{\"AWS\": ...}}"
        )),
    }
}

fn action_pattern(a: &str, at: usize, d: &Dialect) -> Result<String, PolicyError> {
    let lower = a.to_ascii_lowercase();
    if lower == "*" {
        return Ok(lower);
    }
    if !lower.starts_with(d.service) {
        return bad(format!(
            "statement {at}: action {a:?} is not {} (Policy has invalid action)",
            d.label
        ));
    }
    if !d
        .known
        .iter()
        .any(|k| like(&lower, &k.to_ascii_lowercase()))
    {
        return bad(format!(
            "statement {at}: action {a:?} names no action Meridian has (Policy has invalid action)"
        ));
    }
    Ok(lower)
}

/// The part of a resource pattern that names the bucket can match
/// `bucket` (or depends on a policy variable).
fn applies_to(pattern: &str, bucket: &str) -> bool {
    let head = pattern.split('/').next().unwrap_or(pattern);
    head.contains("${") || like(head, bucket) || (!pattern.contains('/') && like(pattern, bucket))
}

impl BucketPolicy {
    /// Parses and checks a policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(text: &str, bucket: &str) -> Result<BucketPolicy, PolicyError> {
        Self::parse_as(text, bucket, true, &S3)
    }

    /// Parses and checks a policy of a dataset `name`, as setting one does.
    pub fn parse_dataset(text: &str, name: &str) -> Result<BucketPolicy, PolicyError> {
        Self::parse_as(text, name, true, &DATASET)
    }

    /// A dataset's stored policy, as [`parse_stored`](Self::parse_stored).
    pub fn parse_dataset_stored(text: &str, name: &str) -> Result<BucketPolicy, PolicyError> {
        Self::parse_as(text, name, false, &DATASET)
    }

    /// Parses a policy stored earlier: the checks that only make sense when
    /// a policy is set (that each resource and action can apply) are left
    /// out, so a policy accepted by an older, laxer version still loads
    /// with every statement it has (its denials included).
    pub fn parse_stored(text: &str, bucket: &str) -> Result<BucketPolicy, PolicyError> {
        Self::parse_as(text, bucket, false, &S3)
    }

    /// What a stored policy that no longer parses becomes: one that denies
    /// everything to everyone but the administrator (failing closed, since
    /// the statements lost may have been denials).
    pub fn deny_all() -> BucketPolicy {
        BucketPolicy {
            statements: vec![Statement {
                effect: Effect::Deny,
                not_principal: false,
                principals: vec![Principal::Anyone],
                not_action: false,
                actions: vec!["*".into()],
                not_resource: false,
                resources: vec!["*".into()],
                conditions: Conditions::default(),
            }],
        }
    }

    fn parse_as(
        text: &str,
        bucket: &str,
        strict: bool,
        dialect: &Dialect,
    ) -> Result<BucketPolicy, PolicyError> {
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
        if let Some(v) = doc.get("Version") {
            if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
                return bad("Version is 2012-10-17 or 2008-10-17");
            }
        }
        let stmts = match doc.get("Statement") {
            Some(Value::Array(s)) if !s.is_empty() => s.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => return bad("Statement must be a statement or a non-empty list of them"),
        };
        let mut statements = Vec::new();
        for (i, s) in stmts.iter().enumerate() {
            statements.push(Self::statement(s, i + 1, bucket, strict, dialect)?);
        }
        Ok(BucketPolicy { statements })
    }

    fn statement(
        s: &Value,
        at: usize,
        bucket: &str,
        strict: bool,
        d: &Dialect,
    ) -> Result<Statement, PolicyError> {
        let Value::Object(s) = s else {
            return bad(format!("statement {at} is not an object"));
        };
        for k in s.keys() {
            if !matches!(
                k.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                return bad(format!("statement {at}: field {k:?} is not supported"));
            }
        }
        let one_of = |a: &str, b: &str| -> Result<(&Value, bool), PolicyError> {
            match (s.get(a), s.get(b)) {
                (Some(v), None) => Ok((v, false)),
                (None, Some(v)) => Ok((v, true)),
                (Some(_), Some(_)) => bad(format!("statement {at}: {a} and {b} together")),
                (None, None) => bad(format!("statement {at}: {a} (or {b}) is missing")),
            }
        };
        let effect = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return bad(format!("statement {at}: Effect must be Allow or Deny")),
        };
        let (pv, not_principal) = one_of("Principal", "NotPrincipal")?;
        if not_principal && effect == Effect::Allow {
            return bad(format!(
                "statement {at}: NotPrincipal may only be used with Deny"
            ));
        }
        let principals = principals(pv, at)?;
        let (av, not_action) = one_of("Action", "NotAction")?;
        let actions = strings(av, "Action", at)?
            .iter()
            .map(|a| action_pattern(a, at, d))
            .collect::<Result<Vec<_>, _>>()?;
        let (rv, not_resource) = one_of("Resource", "NotResource")?;
        let mut resources = Vec::new();
        for r in strings(rv, "Resource", at)? {
            let pattern = if r == "*" {
                "*".to_string()
            } else {
                match r.strip_prefix(d.arn) {
                    Some(rest) if !rest.is_empty() => rest.to_string(),
                    _ => {
                        return bad(format!(
                            "statement {at}: resource {r:?} is not {}{}[/KEY] (Policy has invalid resource)",
                            d.arn,
                            d.what.to_ascii_uppercase()
                        ))
                    }
                }
            };
            if strict && !not_resource && !applies_to(&pattern, bucket) {
                return bad(format!(
                    "statement {at}: resource {r:?} cannot apply to {} {bucket:?} (Policy has invalid resource)",
                    d.what
                ));
            }
            resources.push(pattern);
        }
        if strict && !not_action && !not_resource {
            // AWS: "Action does not apply to any resource(s) in statement".
            let fits = actions.iter().any(|a| {
                d.known
                    .iter()
                    .filter(|k| like(a, &k.to_ascii_lowercase()))
                    .any(|k| {
                        let object = (d.object_action)(k);
                        resources
                            .iter()
                            .any(|r| r == "*" || r.contains('/') == object || r.ends_with('*'))
                    })
            });
            if !fits {
                return bad(format!(
                    "statement {at}: Action does not apply to any resource(s) in statement"
                ));
            }
        }
        let conditions = match s.get("Condition") {
            Some(c) => Conditions::parse(c, at)?,
            None => Conditions::default(),
        };
        Ok(Statement {
            effect,
            not_principal,
            principals,
            not_action,
            actions,
            not_resource,
            resources,
            conditions,
        })
    }

    /// The statements' verdict on `caller` doing `action` on `resource`
    /// (`BUCKET` or `BUCKET/KEY`). With `restrict_public`, statements open
    /// to everyone grant nothing (PublicAccessBlock's
    /// RestrictPublicBuckets).
    pub fn verdict(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        facts: &Facts,
        restrict_public: bool,
    ) -> Verdict {
        let action = action.to_ascii_lowercase();
        let mut v = Verdict {
            deny: Holds::No,
            allow: Holds::No,
        };
        for s in &self.statements {
            if s.effect == Effect::Allow && restrict_public && s.is_public() {
                continue;
            }
            let named = s.principals.iter().any(|p| match p {
                Principal::Anyone => true,
                Principal::Signed => !matches!(caller, Caller::Anonymous),
                Principal::User(n) => matches!(caller, Caller::User(u) if u == n),
            });
            if named == s.not_principal {
                continue;
            }
            if s.actions.iter().any(|a| like(a, &action)) == s.not_action {
                continue;
            }
            let on = s.resources.iter().any(|r| match substitute(r, facts) {
                Some(r) => r == "*" || like(&r, resource),
                None => false,
            });
            if on == s.not_resource {
                continue;
            }
            let holds = s.conditions.holds(facts);
            let slot = match s.effect {
                Effect::Deny => &mut v.deny,
                Effect::Allow => &mut v.allow,
            };
            *slot = match (*slot, holds) {
                (Holds::Yes, _) | (_, Holds::Yes) => Holds::Yes,
                (Holds::Unknown, _) | (_, Holds::Unknown) => Holds::Unknown,
                _ => Holds::No,
            };
        }
        v
    }

    /// Whether the policy is public in AWS's sense: an Allow statement open
    /// to everyone whose conditions do not pin the caller to fixed
    /// addresses or accounts.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }
}

/// Condition keys whose fixed values make a statement non-public.
const PINNING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:principalaccount",
    "aws:userid",
    "aws:username",
];

impl Statement {
    fn is_public(&self) -> bool {
        self.effect == Effect::Allow
            && !self.not_principal
            && self
                .principals
                .iter()
                .any(|p| matches!(p, Principal::Anyone))
            && !self.conditions.pins_any(PINNING_KEYS)
    }
}

/// A resource pattern with `${aws:username}` and the like filled in;
/// `None` when a variable has no value (an anonymous caller's name).
fn substitute(pattern: &str, facts: &Facts) -> Option<String> {
    if !pattern.contains("${") {
        return Some(pattern.to_string());
    }
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}')? + i;
        let var = rest[i + 2..end].to_ascii_lowercase();
        let v = facts.keys.get(&var)?.first()?;
        out.push_str(v);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUNO: &str = super::super::JUNO_POLICY;

    fn user(n: &str) -> Caller {
        Caller::User(n.into())
    }

    fn verdict(p: &BucketPolicy, c: &Caller, action: &str, resource: &str) -> Verdict {
        p.verdict(c, action, resource, &Facts::default(), false)
    }

    #[test]
    fn statements_match_principals_actions_and_resources() {
        let p = BucketPolicy::parse(JUNO, "juno").expect("parses");
        let v = verdict(&p, &user("bob"), "s3:GetObject", "juno/raw/1");
        assert_eq!((v.allow, v.deny), (Holds::Yes, Holds::No));
        let v = verdict(&p, &user("daq"), "s3:PutObject", "juno/calib/1");
        assert_eq!(v.allow, Holds::No);
        let v = verdict(&p, &Caller::Anonymous, "s3:DeleteObject", "juno/raw/1");
        assert_eq!(v.deny, Holds::Yes);
        // Action names are case-insensitive; patterns work.
        let text = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": "S3:get*", "Resource": "arn:aws:s3:::pub/*"}}"#;
        let p = BucketPolicy::parse(text, "pub").expect("parses");
        let v = verdict(&p, &Caller::Anonymous, "s3:GetObjectTagging", "pub/a");
        assert_eq!(v.allow, Holds::Yes);
        assert!(p.is_public());
    }

    #[test]
    fn not_forms_wildcard_buckets_and_accounts() {
        let text = r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
             "NotAction": "s3:DeleteObject", "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "ops"},
             "Action": "s3:*", "NotResource": "arn:aws:s3:::b/public/*"}
        ]}"#;
        let p = BucketPolicy::parse(text, "b").expect("a pattern naming every bucket applies");
        let v = verdict(&p, &user("eve"), "s3:GetObject", "b/public/x");
        assert_eq!((v.allow, v.deny), (Holds::Yes, Holds::No));
        let v = verdict(&p, &user("eve"), "s3:GetObject", "b/private/x");
        assert_eq!(v.deny, Holds::Yes);
        let v = verdict(&p, &user("ops"), "s3:GetObject", "b/private/x");
        assert_eq!(v.deny, Holds::No);
        let v = verdict(&p, &Caller::Anonymous, "s3:GetObject", "b/public/x");
        assert_eq!(v.allow, Holds::No, "root means signed users");
        let v = verdict(&p, &user("eve"), "s3:DeleteObject", "b/public/x");
        assert_eq!(v.allow, Holds::No);
    }

    #[test]
    fn conditions_and_variables_decide() {
        let text = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
            "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}}}"#;
        let p = BucketPolicy::parse(text, "b").expect("parses");
        let mut f = Facts::default();
        f.set("aws:username", "alice");
        f.set("s3:prefix", "home/alice/x");
        let v = p.verdict(&user("alice"), "s3:ListBucket", "b", &f, false);
        assert_eq!(v.allow, Holds::Yes);
        f.set("s3:prefix", "home/bob/");
        let v = p.verdict(&user("alice"), "s3:ListBucket", "b", &f, false);
        assert_eq!(v.allow, Holds::No);
        let text = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/home/${aws:username}/*"}}"#;
        let p = BucketPolicy::parse(text, "b").expect("parses");
        let v = p.verdict(&user("alice"), "s3:GetObject", "b/home/alice/1", &f, false);
        assert_eq!(v.allow, Holds::Yes);
        let v = p.verdict(&user("alice"), "s3:GetObject", "b/home/bob/1", &f, false);
        assert_eq!(v.allow, Holds::No);
        // Restricted: public statements grant nothing.
        let v = p.verdict(&user("alice"), "s3:GetObject", "b/home/alice/1", &f, true);
        assert_eq!(v.allow, Holds::No);
    }

    #[test]
    fn publicness_follows_principals_and_pinning_conditions() {
        let open = r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#;
        assert!(BucketPolicy::parse(open, "b").expect("parses").is_public());
        let pinned = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}"#;
        assert!(!BucketPolicy::parse(pinned, "b")
            .expect("parses")
            .is_public());
        let named = r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "alice"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#;
        assert!(!BucketPolicy::parse(named, "b").expect("parses").is_public());
    }

    #[test]
    fn policies_that_cannot_apply_are_refused_with_the_reason() {
        let cases = [
            ("[]", "JSON object"),
            ("{\"Statement\": []}", "non-empty"),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:Fly", "Resource": "arn:aws:s3:::b"}}"#,
                "invalid action",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "iam:*", "Resource": "arn:aws:s3:::b"}}"#,
                "invalid action",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}}"#,
                "cannot apply",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}}"#,
                "does not apply to any resource",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "a"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
                "only be used with Deny",
            ),
            (
                r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}}"#,
                "Allow or Deny",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"Bogus": {}}}}"#,
                "unknown condition operator",
            ),
        ];
        for (text, want) in cases {
            let e = BucketPolicy::parse(text, "b").expect_err(text);
            assert!(e.0.contains(want), "{text}: {e}");
        }
    }
}
