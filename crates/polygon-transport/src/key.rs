//! `ApiKey`: the Polygon key, which no `Debug`, `Display`, log line or error can print.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use crate::Error;

/// A Polygon (Massive) API key.
///
/// `Debug` and `Display` print `<redacted>`. The key leaves this type only as the value of an
/// `Authorization: Bearer` header marked sensitive (so hyper's HTTP/2 encoder never indexes it).
///
/// ```
/// let key = polygon_transport::ApiKey::new("s3cr3t").unwrap();
/// assert_eq!(format!("{key:?} {key}"), "ApiKey(<redacted>) <redacted>");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    ///
    /// # Errors
    /// An [`Error`] for which [`Error::is_config`] holds when the key is empty or has characters
    /// that cannot go in an HTTP header (the message never repeats the key).
    pub fn new(key: impl AsRef<str>) -> Result<Self, Error> {
        let key = key.as_ref().trim();
        if key.is_empty() {
            return Err(Error::config("the API key is empty"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::config("the API key has characters that cannot go in an HTTP header"));
        }
        Ok(ApiKey(Arc::from(key)))
    }

    pub(crate) fn bearer(&self) -> HeaderValue {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", self.0)).expect("checked to be visible ASCII");
        v.set_sensitive(true);
        v
    }

    /// A name for what belongs to this key (a fleet's shared quota in Redis, say) that does not
    /// reveal it: 32 hex digits of FNV-1a 128 over `context`, a NUL and the key. Stable across
    /// processes and versions (`pgh200-quota-v1` names the scheme in the one caller).
    ///
    /// ```
    /// let key = polygon_transport::ApiKey::new("s3cr3t").unwrap();
    /// let id = key.fingerprint("example");
    /// assert_eq!(id.len(), 32);
    /// assert!(!key.appears_in(&id));
    /// assert_ne!(id, key.fingerprint("another"));
    /// ```
    pub fn fingerprint(&self, context: &str) -> String {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let mut h = OFFSET;
        for b in context.bytes().chain([0]).chain(self.0.bytes()) {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
        format!("{h:032x}")
    }

    /// Whether `text` contains the key: for tests and audits that prove it leaked nowhere.
    pub fn appears_in(&self, text: &str) -> bool {
        text.contains(&*self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `path` with the value of any `apiKey` query parameter replaced by `<redacted>`.
pub(crate) fn redact_path(path: &str) -> String {
    let Some((p, q)) = path.split_once('?') else { return path.to_owned() };
    let q: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("apikey") => format!("{k}=<redacted>"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{p}?{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print() {
        let k = ApiKey::new("  abc123  ").unwrap();
        assert!(!format!("{k:?}{k}").contains("abc123"));
        assert!(k.appears_in("x abc123 y"));
        assert!(k.bearer().is_sensitive());
        assert!(ApiKey::new("").unwrap_err().is_config());
        let e = ApiKey::new("a b\n").unwrap_err();
        assert!(!e.to_string().contains("a b"));
    }

    #[test]
    fn paths_lose_their_key() {
        assert_eq!(redact_path("/v3/trades/A?apiKey=xyz&limit=5"), "/v3/trades/A?apiKey=<redacted>&limit=5");
        assert_eq!(redact_path("/v2/x"), "/v2/x");
    }
}
