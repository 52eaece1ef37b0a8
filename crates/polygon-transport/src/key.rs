//! `ApiKey` (the Polygon key) and `S3Secret` (the flat-file host's secret access key), which no
//! `Debug`, `Display`, log line or error can print, and `redact_path`, the one place where the
//! secrets a URL can carry (`apiKey`, a presigned URL's signature and credential) are hidden.

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

/// Query parameters whose values are secrets: Polygon's `apiKey`, and a presigned S3 URL's
/// signature, credential (it starts with the access key id) and session token.
const SECRET_PARAMS: [&str; 4] = ["apikey", "x-amz-signature", "x-amz-credential", "x-amz-security-token"];

/// `path` with the value of any secret query parameter ([`SECRET_PARAMS`], in any case) replaced
/// by `<redacted>`: every path or URL the transport shows (spans, events, errors) passes here.
pub(crate) fn redact_path(path: &str) -> String {
    let Some((p, q)) = path.split_once('?') else { return path.to_owned() };
    let q: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) => format!("{k}=<redacted>"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{p}?{}", q.join("&"))
}

/// The flat-file host's S3 secret access key (`POLYGON_S3_SECRET_ACCESS_KEY`; not the API key).
///
/// `Debug` and `Display` print `<redacted>`. It leaves this type only to sign requests
/// (rusty-s3's SigV4): it is never sent, and what is sent (the signature) is redacted wherever
/// a URL is shown.
///
/// ```
/// let secret = polygon_transport::S3Secret::new("wJalrXUtnFEMI").unwrap();
/// assert_eq!(format!("{secret:?} {secret}"), "S3Secret(<redacted>) <redacted>");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct S3Secret(Arc<str>);

impl S3Secret {
    /// Wraps a secret access key.
    ///
    /// # Errors
    /// An [`Error`] for which [`Error::is_config`] holds when it is empty or not printable ASCII
    /// (the message names `POLYGON_S3_SECRET_ACCESS_KEY` and never repeats the value).
    pub fn new(secret: impl AsRef<str>) -> Result<Self, Error> {
        let secret = secret.as_ref().trim();
        if secret.is_empty() {
            return Err(Error::config("POLYGON_S3_SECRET_ACCESS_KEY is empty"));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::config("POLYGON_S3_SECRET_ACCESS_KEY has characters other than printable ASCII"));
        }
        Ok(S3Secret(Arc::from(secret)))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `text` contains the secret: for tests and audits that prove it leaked nowhere.
    pub fn appears_in(&self, text: &str) -> bool {
        text.contains(&*self.0)
    }
}

impl fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("S3Secret(<redacted>)")
    }
}

impl fmt::Display for S3Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
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

    #[test]
    fn presigned_urls_lose_their_signature_and_credential() {
        let url = "/flatfiles/k.csv.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240701%2Fus-east-1%2Fs3%2Faws4_request\
                   &X-Amz-Date=20240701T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=tok&X-Amz-SignedHeaders=host\
                   &x-amz-signature=abc123";
        let shown = redact_path(url);
        for secret in ["AKID", "tok", "abc123"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("X-Amz-Credential=<redacted>&") && shown.ends_with("x-amz-signature=<redacted>"));
        assert!(shown.contains("X-Amz-Date=20240701T000000Z"), "the rest is kept: {shown}");
    }

    #[test]
    fn s3_secrets_never_print() {
        let s = S3Secret::new(" sekrit ").unwrap();
        assert_eq!(s.expose(), "sekrit");
        assert!(!format!("{s:?}{s}").contains("sekrit"));
        let e = S3Secret::new("").unwrap_err();
        assert!(e.is_config() && e.to_string().contains("POLYGON_S3_SECRET_ACCESS_KEY"), "{e}");
        assert!(!S3Secret::new("a b").unwrap_err().to_string().contains("a b"));
    }
}
