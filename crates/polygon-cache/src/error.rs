//! `Error` (building the cache, administrative commands) and `redact_url`: a Redis address never
//! shows its password.

/// Building the cache fails on a malformed Redis address or an unusable disk directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `REDIS_URL` (or host/port/db) could not be understood. The message never includes a password.
    #[error("invalid Redis address {address}: {reason}")]
    Config {
        /// The address with any password replaced by `<redacted>`.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// Redis could not complete an administrative command (`clear`).
    #[error("redis: {0}")]
    Redis(String),
    /// The disk tier's directory could not be created or used.
    #[error("disk cache at {dir}: {reason}")]
    Disk {
        /// The directory (`CACHE_DIR`).
        dir: String,
        /// What failed.
        reason: String,
    },
}

/// A Redis URL with its password replaced by `<redacted>`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((auth, host)) => {
            let user = auth.split_once(':').map_or(auth, |(u, _)| u);
            if auth.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}")
            } else {
                format!("{scheme}://<redacted>@{host}")
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("redis://user:pa55@host:6379/0"), "redis://user:<redacted>@host:6379/0");
        assert_eq!(redact_url("rediss://:pa55@host:6380"), "rediss://:<redacted>@host:6380");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
    }
}
