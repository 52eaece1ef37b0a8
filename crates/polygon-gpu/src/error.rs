//! The crate's one error type.

/// Why indicators could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend asked for is not available in this build or on this machine.
    #[error("backend {backend} is not available: {reason}")]
    Unavailable {
        /// `cuda`, …
        backend: &'static str,
        /// Why.
        reason: String,
    },
    /// The backend failed while computing (a device error).
    #[error("backend {backend} failed: {reason}")]
    Failed {
        /// `cuda`, …
        backend: &'static str,
        /// What failed.
        reason: String,
    },
    /// The batch given is inconsistent (its columns were changed by hand: see
    /// `BarColumns::check`); nothing was computed.
    #[error("the batch of bars is inconsistent: {0}")]
    BadBatch(String),
}
