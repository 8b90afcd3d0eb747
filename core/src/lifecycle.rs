//! Lifecycle rules of a bucket: checking a configuration and deciding what
//! a rule expires (pure; the leader's lifecycle job walks the catalogue and
//! asks these).

use std::collections::HashMap;

use crate::records::LifecycleRule;

const MAX_RULES: usize = 1000;
const MAX_ID: usize = 255;

/// Why a configuration is refused (S3 answers `InvalidArgument` or
/// `InvalidRequest` with this text).
pub fn check_rules(rules: &[LifecycleRule]) -> Result<(), String> {
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(format!(
            "a lifecycle configuration has 1 to {MAX_RULES} rules, not {}",
            rules.len()
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        let name = if r.id.is_empty() {
            format!("rule {}", i + 1)
        } else {
            format!("rule {:?}", r.id)
        };
        if r.id.len() > MAX_ID {
            return Err(format!("{name}: ID is at most {MAX_ID} characters"));
        }
        if !r.id.is_empty() && !ids.insert(r.id.as_str()) {
            return Err(format!("{name}: Rule ID must be unique"));
        }
        let expirations = u8::from(r.expiration_days > 0)
            + u8::from(r.expiration_date_ms > 0)
            + u8::from(r.expired_object_delete_marker);
        if expirations > 1 {
            return Err(format!(
                "{name}: Expiration has one of Days, Date or ExpiredObjectDeleteMarker"
            ));
        }
        if expirations == 0 && r.noncurrent_days == 0 && r.abort_incomplete_upload_days == 0 {
            return Err(format!(
                "{name}: At least one action needs to be specified in a rule"
            ));
        }
        if r.newer_noncurrent_versions > 0 && r.noncurrent_days == 0 {
            return Err(format!(
                "{name}: NewerNoncurrentVersions needs NoncurrentDays"
            ));
        }
        if !r.tags.is_empty()
            && (r.expired_object_delete_marker || r.abort_incomplete_upload_days > 0)
        {
            return Err(format!(
                "{name}: ExpiredObjectDeleteMarker and AbortIncompleteMultipartUpload cannot be used with a tag filter"
            ));
        }
        if r.size_less_than > 0 && r.size_greater_than >= r.size_less_than {
            return Err(format!(
                "{name}: ObjectSizeGreaterThan must be less than ObjectSizeLessThan"
            ));
        }
    }
    Ok(())
}

/// Whether the rule's filter takes an object (its tags and size) or, for
/// uploads and delete markers, a key alone (`None`).
pub fn selects(
    rule: &LifecycleRule,
    key: &str,
    object: Option<(u64, &HashMap<String, String>)>,
) -> bool {
    if !rule.enabled || !key.starts_with(&rule.prefix) {
        return false;
    }
    let Some((size, tags)) = object else {
        return true;
    };
    rule.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
        && size > rule.size_greater_than
        && (rule.size_less_than == 0 || size < rule.size_less_than)
}

fn after_days(since_ms: i64, days: u32, day_ms: i64) -> i64 {
    since_ms.saturating_add(i64::from(days).saturating_mul(day_ms))
}

/// Whether a current version created at `created_ms` has expired.
pub fn current_expired(rule: &LifecycleRule, created_ms: i64, now_ms: i64, day_ms: i64) -> bool {
    (rule.expiration_days > 0 && now_ms >= after_days(created_ms, rule.expiration_days, day_ms))
        || (rule.expiration_date_ms > 0 && now_ms >= rule.expiration_date_ms)
}

/// Whether a noncurrent version has expired: noncurrent since `since_ms`
/// (its successor's creation), with `newer` noncurrent versions of the key
/// newer than it.
pub fn noncurrent_expired(
    rule: &LifecycleRule,
    since_ms: i64,
    newer: u32,
    now_ms: i64,
    day_ms: i64,
) -> bool {
    rule.noncurrent_days > 0
        && newer >= rule.newer_noncurrent_versions
        && now_ms >= after_days(since_ms, rule.noncurrent_days, day_ms)
}

/// When `rules` expire a current version (the earliest rule that selects
/// it) and that rule's id: what S3's `x-amz-expiration` tells a reader.
pub fn expiry_of<'r>(
    rules: &'r [LifecycleRule],
    key: &str,
    object: (u64, &HashMap<String, String>),
    created_ms: i64,
    day_ms: i64,
) -> Option<(i64, &'r str)> {
    rules
        .iter()
        .filter(|r| selects(r, key, Some(object)))
        .filter_map(|r| {
            let by_days =
                (r.expiration_days > 0).then(|| after_days(created_ms, r.expiration_days, day_ms));
            let by_date = (r.expiration_date_ms > 0).then_some(r.expiration_date_ms);
            by_days
                .into_iter()
                .chain(by_date)
                .min()
                .map(|at| (at, r.id.as_str()))
        })
        .min_by_key(|(at, _)| *at)
}

/// Whether an upload initiated at `created_ms` is to be aborted.
pub fn upload_expired(rule: &LifecycleRule, created_ms: i64, now_ms: i64, day_ms: i64) -> bool {
    rule.abort_incomplete_upload_days > 0
        && now_ms >= after_days(created_ms, rule.abort_incomplete_upload_days, day_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_selecting_rule_names_the_expiry() {
        const DAY: i64 = 86_400_000;
        let rule = |id: &str, prefix: &str, days: u32, date_ms: i64| LifecycleRule {
            id: id.into(),
            enabled: true,
            prefix: prefix.into(),
            expiration_days: days,
            expiration_date_ms: date_ms,
            ..Default::default()
        };
        let none = HashMap::new();
        let rules = vec![
            rule("logs", "logs/", 30, 0),
            rule("all", "", 90, 0),
            rule("soon", "logs/tmp/", 0, 5 * DAY),
            LifecycleRule {
                enabled: false,
                ..rule("off", "", 1, 0)
            },
        ];
        assert_eq!(
            expiry_of(&rules, "logs/a", (1, &none), 0, DAY),
            Some((30 * DAY, "logs"))
        );
        assert_eq!(
            expiry_of(&rules, "data/a", (1, &none), DAY, DAY),
            Some((91 * DAY, "all"))
        );
        assert_eq!(
            expiry_of(&rules, "logs/tmp/x", (1, &none), 0, DAY),
            Some((5 * DAY, "soon"))
        );
        assert_eq!(expiry_of(&rules[..1], "data/a", (1, &none), 0, DAY), None);
        // Rules that only clean noncurrent versions say nothing here.
        let noncurrent = vec![LifecycleRule {
            enabled: true,
            noncurrent_days: 3,
            ..Default::default()
        }];
        assert_eq!(expiry_of(&noncurrent, "a", (1, &none), 0, DAY), None);
    }

    const DAY: i64 = 86_400_000;

    fn rule() -> LifecycleRule {
        LifecycleRule {
            enabled: true,
            prefix: "raw/".into(),
            expiration_days: 30,
            ..Default::default()
        }
    }

    #[test]
    fn configurations_are_checked() {
        assert!(check_rules(&[rule()]).is_ok());
        assert!(check_rules(&[]).is_err());
        let mut none = rule();
        none.expiration_days = 0;
        assert!(check_rules(&[none])
            .expect_err("refused")
            .contains("At least one action"));
        let mut two = rule();
        two.expiration_date_ms = 1;
        assert!(check_rules(&[two]).is_err());
        let mut dup = rule();
        dup.id = "a".into();
        assert!(check_rules(&[dup.clone(), dup])
            .expect_err("refused")
            .contains("unique"));
        let mut tagged_marker = rule();
        tagged_marker.expiration_days = 0;
        tagged_marker.expired_object_delete_marker = true;
        tagged_marker.tags.insert("k".into(), "v".into());
        assert!(check_rules(&[tagged_marker]).is_err());
        let mut sizes = rule();
        sizes.size_greater_than = 10;
        sizes.size_less_than = 10;
        assert!(check_rules(&[sizes]).is_err());
        let mut newer = rule();
        newer.newer_noncurrent_versions = 2;
        assert!(check_rules(&[newer]).is_err());
    }

    #[test]
    fn filters() {
        let mut r = rule();
        r.tags.insert("stage".into(), "raw".into());
        r.size_greater_than = 10;
        r.size_less_than = 100;
        let tags: HashMap<String, String> = [("stage".to_string(), "raw".to_string())].into();
        assert!(selects(&r, "raw/run1", Some((50, &tags))));
        assert!(!selects(&r, "cal/run1", Some((50, &tags))));
        assert!(
            !selects(&r, "raw/run1", Some((10, &tags))),
            "greater than is strict"
        );
        assert!(
            !selects(&r, "raw/run1", Some((100, &tags))),
            "less than is strict"
        );
        assert!(!selects(&r, "raw/run1", Some((50, &HashMap::new()))));
        assert!(
            selects(&r, "raw/run1", None),
            "keys alone: the prefix decides"
        );
        r.enabled = false;
        assert!(!selects(&r, "raw/run1", Some((50, &tags))));
    }

    #[test]
    fn due_times() {
        let r = rule();
        assert!(!current_expired(&r, 0, 30 * DAY - 1, DAY));
        assert!(current_expired(&r, 0, 30 * DAY, DAY));
        // A one-second lifecycle day (tests).
        assert!(current_expired(&r, 0, 30_000, 1000));
        let dated = LifecycleRule {
            expiration_date_ms: 5_000,
            ..rule()
        };
        assert!(current_expired(&dated, 1_000_000, 5_000, DAY));
        let nc = LifecycleRule {
            noncurrent_days: 2,
            newer_noncurrent_versions: 1,
            ..rule()
        };
        assert!(
            !noncurrent_expired(&nc, 0, 0, 3 * DAY, DAY),
            "the newest noncurrent is kept"
        );
        assert!(noncurrent_expired(&nc, 0, 1, 2 * DAY, DAY));
        assert!(!noncurrent_expired(&nc, DAY, 1, 2 * DAY, DAY));
        let abort = LifecycleRule {
            abort_incomplete_upload_days: 1,
            ..rule()
        };
        assert!(upload_expired(&abort, 0, DAY, DAY));
        assert!(!upload_expired(&rule(), 0, 100 * DAY, DAY));
    }
}
