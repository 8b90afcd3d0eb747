//! Object Lock's rules (pure): whether retention or a legal hold keeps a
//! version, which retention changes are allowed, and which bucket
//! configurations are well formed.

use crate::records::{LockMode, ObjectLockConfig, ObjectRecord};

/// The longest default retention a bucket may set (S3's bounds).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
pub const MAX_RETENTION_YEARS: u32 = 100;

/// What keeps a version: its retention and legal hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    pub mode: LockMode,
    pub until_ms: i64,
    pub legal_hold: bool,
}

impl Retention {
    pub fn of(rec: &ObjectRecord) -> Retention {
        Retention {
            mode: rec.lock_mode,
            until_ms: rec.lock_until_ms,
            legal_hold: rec.legal_hold,
        }
    }

    /// Why the version may not be removed at `now_ms`, if it may not: a
    /// legal hold, COMPLIANCE retention, or GOVERNANCE retention without
    /// the bypass.
    pub fn protects(&self, now_ms: i64, bypass_governance: bool) -> Option<String> {
        if self.legal_hold {
            return Some("the version is under a legal hold".into());
        }
        if self.until_ms > now_ms {
            match self.mode {
                LockMode::Compliance => {
                    return Some("the version is under COMPLIANCE retention".into())
                }
                LockMode::Governance if !bypass_governance => {
                    return Some("the version is under GOVERNANCE retention".into())
                }
                _ => {}
            }
        }
        None
    }

    /// Whether the retention may become (`mode`, `until_ms`) at `now_ms`:
    /// retention in force may only be kept or extended in the same mode,
    /// unless it is GOVERNANCE and the caller may bypass it.
    pub fn may_become(
        &self,
        mode: LockMode,
        until_ms: i64,
        now_ms: i64,
        bypass_governance: bool,
    ) -> Result<(), String> {
        let in_force = self.mode != LockMode::None && self.until_ms > now_ms;
        let extends = mode == self.mode && until_ms >= self.until_ms;
        if !in_force || extends || (self.mode == LockMode::Governance && bypass_governance) {
            return Ok(());
        }
        Err(if self.mode == LockMode::Compliance {
            "COMPLIANCE retention cannot be shortened, removed or changed".into()
        } else {
            "GOVERNANCE retention is shortened, removed or changed only with x-amz-bypass-governance-retention".into()
        })
    }
}

/// Why `rec` may not be removed at `now_ms`, if it may not.
pub fn protected(rec: &ObjectRecord, now_ms: i64, bypass_governance: bool) -> Option<String> {
    Retention::of(rec).protects(now_ms, bypass_governance)
}

/// Whether `rec`'s retention may become (`mode`, `until_ms`) at `now_ms`.
pub fn retention_change(
    rec: &ObjectRecord,
    mode: LockMode,
    until_ms: i64,
    now_ms: i64,
    bypass_governance: bool,
) -> Result<(), String> {
    Retention::of(rec).may_become(mode, until_ms, now_ms, bypass_governance)
}

/// The retention a new version gets from its bucket's default, if it asked
/// for none: (mode, until).
pub fn default_retention(
    lock: Option<&ObjectLockConfig>,
    asked: LockMode,
    created_ms: i64,
) -> Option<(LockMode, i64)> {
    let l = lock.filter(|l| l.enabled)?;
    if asked != LockMode::None || l.default_mode == LockMode::None {
        return None;
    }
    let days = i64::from(l.default_days) + 365 * i64::from(l.default_years);
    Some((
        l.default_mode,
        created_ms.saturating_add(days.saturating_mul(DAY_MS)),
    ))
}

const DAY_MS: i64 = 86_400_000;

/// What is wrong with a bucket's Object Lock configuration, if anything.
pub fn check_lock_config(c: &ObjectLockConfig) -> Option<String> {
    if !c.enabled {
        return Some("Object Lock cannot be switched off".into());
    }
    match (c.default_mode, c.default_days, c.default_years) {
        (LockMode::None, 0, 0) => None,
        (LockMode::None, _, _) => Some("a default retention needs a mode".into()),
        (_, d, y) if (d == 0) == (y == 0) => {
            Some("a default retention has Days or Years, one of them".into())
        }
        (_, d, y) if d > MAX_RETENTION_DAYS || y > MAX_RETENTION_YEARS => Some(format!(
            "a default retention is at most {MAX_RETENTION_DAYS} days or {MAX_RETENTION_YEARS} years"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(mode: LockMode, until_ms: i64) -> ObjectRecord {
        ObjectRecord {
            lock_mode: mode,
            lock_until_ms: until_ms,
            ..Default::default()
        }
    }

    #[test]
    fn retention_keeps_a_version_until_it_ends() {
        let g = locked(LockMode::Governance, 100);
        assert!(protected(&g, 50, false).is_some());
        assert!(protected(&g, 50, true).is_none());
        assert!(protected(&g, 100, false).is_none());
        let c = locked(LockMode::Compliance, 100);
        assert!(protected(&c, 50, true).is_some());
        let held = ObjectRecord {
            legal_hold: true,
            ..Default::default()
        };
        assert!(protected(&held, 0, true).is_some());
    }

    #[test]
    fn retention_in_force_only_grows_unless_governance_is_bypassed() {
        let g = locked(LockMode::Governance, 100);
        assert!(retention_change(&g, LockMode::Governance, 200, 50, false).is_ok());
        assert!(retention_change(&g, LockMode::Governance, 80, 50, false).is_err());
        assert!(retention_change(&g, LockMode::None, 0, 50, true).is_ok());
        let c = locked(LockMode::Compliance, 100);
        assert!(retention_change(&c, LockMode::Governance, 200, 50, true).is_err());
        assert!(retention_change(&c, LockMode::None, 0, 150, false).is_ok());
    }

    #[test]
    fn a_lock_configuration_is_on_with_at_most_one_period() {
        let on = ObjectLockConfig {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(check_lock_config(&on), None);
        let both = ObjectLockConfig {
            default_mode: LockMode::Governance,
            default_days: 1,
            default_years: 1,
            ..on
        };
        assert!(check_lock_config(&both).is_some());
        let off = ObjectLockConfig::default();
        assert!(check_lock_config(&off).is_some());
    }
}
