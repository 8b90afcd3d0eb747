use thiserror::Error;

/// What is wrong with a topology or policy, said precisely enough to fix it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    /// The file parses but breaks a rule; `rule` names the rule.
    #[error("{origin}: {what}: {rule}")]
    Invalid {
        origin: String,
        what: String,
        rule: &'static str,
    },
}

impl PlacementError {
    pub(crate) fn invalid(origin: &str, what: impl Into<String>, rule: &'static str) -> Self {
        PlacementError::Invalid {
            origin: origin.to_string(),
            what: what.into(),
            rule,
        }
    }
}
