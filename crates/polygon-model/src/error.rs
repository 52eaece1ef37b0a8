//! The one error type of `polygon-model`: invalid arguments (tickers, dates, timespans, limits).

/// A value that does not form a valid request part.
///
/// Each variant names the parameter and says what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter had a value outside what it accepts.
    #[error("invalid {param} {value:?}: {reason}")]
    BadArgument {
        /// The parameter's name (`ticker`, `from`, `timespan`, …).
        param: &'static str,
        /// The value as given (never a secret).
        value: String,
        /// What the parameter accepts.
        reason: String,
    },
}

impl Error {
    pub(crate) fn bad(param: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadArgument { param, value: value.into(), reason: reason.into() }
    }

    /// The name of the parameter that was wrong.
    pub fn param(&self) -> &'static str {
        match self {
            Error::BadArgument { param, .. } => param,
        }
    }
}
