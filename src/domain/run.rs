//! A coffee run's life: active until it is completed or cancelled.

use std::fmt;

/// Where a run stands (`coffee_runs.status`, the `run_status` enum in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Taking orders until a runner is picked; then waiting for the runner.
    Active,
    Completed,
    Cancelled,
}

impl RunStatus {
    /// The name the database, the REST API and the events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`RunStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run status {0:?}")]
pub struct UnknownRunStatus(pub String);

impl TryFrom<String> for RunStatus {
    type Error = UnknownRunStatus;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.as_str() {
            "active" => Ok(Self::Active),
            "completed" => Ok(Self::Completed),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(UnknownRunStatus(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_as_its_name() {
        for status in [
            RunStatus::Active,
            RunStatus::Completed,
            RunStatus::Cancelled,
        ] {
            assert_eq!(RunStatus::try_from(status.to_string()), Ok(status));
        }
        assert!(RunStatus::try_from("paused".to_owned()).is_err());
        assert!(RunStatus::Active.is_active());
        assert!(!RunStatus::Cancelled.is_active());
    }
}
