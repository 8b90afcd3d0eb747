//! CORS rules of a bucket: checking a configuration and finding the rule
//! that allows a cross-origin request (pure; the S3 front end answers
//! preflights and adds the response headers).

use crate::records::CorsRule;

/// The methods a CORS rule may allow, as S3 has them.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const MAX_RULES: usize = 100;

/// Why a configuration is refused (S3 answers `InvalidRequest` or
/// `MalformedXML` with this text).
pub fn check_rules(rules: &[CorsRule]) -> Result<(), String> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(format!(
            "a CORS configuration has 1 to {MAX_RULES} rules, not {}",
            rules.len()
        ));
    }
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(format!(
                "rule {n}: AllowedOrigin and AllowedMethod are required"
            ));
        }
        if let Some(m) = r
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(format!(
                "rule {n}: Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            ));
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(format!(
                    "rule {n}: AllowedOrigin \"{o}\" can not have more than one wildcard."
                ));
            }
        }
        for h in &r.allowed_headers {
            if h.matches('*').count() > 1 {
                return Err(format!(
                    "rule {n}: AllowedHeader \"{h}\" can not have more than one wildcard."
                ));
            }
        }
        if r.max_age_seconds.is_some_and(|s| s < 0) {
            return Err(format!("rule {n}: MaxAgeSeconds is not negative"));
        }
    }
    Ok(())
}

/// `pattern` with at most one `*` standing for any run of characters.
fn wildcard(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((pre, post)) => {
            s.len() >= pre.len() + post.len() && s.starts_with(pre) && s.ends_with(post)
        }
    }
}

/// The first rule (in configuration order, as S3 evaluates them) allowing
/// `origin` to send `method` with `headers` (the preflight's
/// `Access-Control-Request-Headers`; none for the actual request).
pub fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                let h = h.to_ascii_lowercase();
                r.allowed_headers
                    .iter()
                    .any(|a| wildcard(&a.to_ascii_lowercase(), &h))
            })
    })
}

/// What `Access-Control-Allow-Origin` says for a rule: `*` when the rule
/// allows any origin, else the origin itself.
pub fn allow_origin<'a>(rule: &CorsRule, origin: &'a str) -> &'a str {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        "*"
    } else {
        origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_are_checked() {
        assert!(check_rules(&[rule(&["*"], &["GET"], &[])]).is_ok());
        assert!(check_rules(&[]).is_err());
        assert!(check_rules(&[rule(&[], &["GET"], &[])]).is_err());
        assert!(check_rules(&[rule(&["*"], &["PATCH"], &[])]).is_err());
        assert!(check_rules(&[rule(&["https://*.*.org"], &["GET"], &[])]).is_err());
        assert!(check_rules(&[rule(&["*"], &["GET"], &["x-*-*"])]).is_err());
        let mut neg = rule(&["*"], &["GET"], &[]);
        neg.max_age_seconds = Some(-1);
        assert!(check_rules(&[neg]).is_err());
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = [
            rule(
                &["https://*.ihep.ac.cn"],
                &["GET", "HEAD"],
                &["x-amz-*", "Range"],
            ),
            rule(&["*"], &["GET"], &[]),
        ];
        let r = find_rule(
            &rules,
            "https://portal.ihep.ac.cn",
            "GET",
            &["X-Amz-Date", "range"],
        );
        assert!(std::ptr::eq(r.expect("matches"), &rules[0]));
        assert_eq!(
            allow_origin(&rules[0], "https://portal.ihep.ac.cn"),
            "https://portal.ihep.ac.cn"
        );
        // A header the first rule does not allow: the second has no
        // headers at all, so nothing matches.
        assert!(find_rule(
            &rules,
            "https://portal.ihep.ac.cn",
            "GET",
            &["authorization"]
        )
        .is_none());
        // Another origin falls to the catch-all rule, GET only.
        let r = find_rule(&rules, "https://evil.example", "GET", &[]).expect("catch-all");
        assert_eq!(allow_origin(r, "https://evil.example"), "*");
        assert!(find_rule(&rules, "https://evil.example", "PUT", &[]).is_none());
        assert!(find_rule(&rules, "https://ihep.ac.cn.evil", "HEAD", &[]).is_none());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("a*c", "abc"));
        assert!(wildcard("a*c", "ac"));
        assert!(!wildcard("a*c", "a"));
        assert!(!wildcard("ab*bc", "abc"));
        assert!(wildcard("exact", "exact"));
    }
}
