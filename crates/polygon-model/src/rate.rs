//! `RateLimit`: a request rate such as `5/min` or `100/s`, shared by the client and the simulator.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// At most `requests` per `per`. `off` parses to `None` through [`RateLimit::parse_optional`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
}

impl RateLimit {
    /// Parses `N/s`, `N/sec`, `N/second`, `N/m`, `N/min`, `N/minute`, `N/h`, `N/hour`, or `off`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] (param `rate limit`) naming the accepted forms.
    pub fn parse_optional(s: &str) -> Result<Option<RateLimit>, Error> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        s.parse().map(Some)
    }
}

impl FromStr for RateLimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::bad("rate limit", s, "expected N/s, N/min, N/hour (N from 1) or off");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        if requests == 0 {
            return Err(bad());
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(RateLimit { requests, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "hour",
            _ => return write!(f, "{}/{}ms", self.requests, self.per.as_millis()),
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            RateLimit::parse_optional("5/min").unwrap(),
            Some(RateLimit { requests: 5, per: Duration::from_secs(60) })
        );
        assert_eq!("100/s".parse::<RateLimit>().unwrap().to_string(), "100/s");
        assert_eq!(RateLimit::parse_optional("off").unwrap(), None);
        for bad in ["", "5", "0/s", "5/day", "x/s", "-1/s"] {
            assert_eq!(RateLimit::parse_optional(bad).unwrap_err().param(), "rate limit", "{bad}");
        }
    }
}
