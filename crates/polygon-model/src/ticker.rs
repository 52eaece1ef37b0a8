//! `Ticker`: a symbol in one of the forms Polygon uses, validated once at the edge.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The longest ticker accepted, in bytes (option symbols are the longest real form: 22).
pub const MAX_TICKER_LEN: usize = 32;

/// The market a ticker belongs to, read from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TickerKind {
    /// A US stock or ETF: `AAPL`, `BRK.B`, `BACpB`.
    Stock,
    /// A crypto pair: `X:BTCUSD`.
    Crypto,
    /// A currency pair: `C:EURUSD`.
    Forex,
    /// An index: `I:SPX`.
    Index,
    /// An OCC option symbol: `O:SPY251219C00650000`.
    Option,
}

/// A validated Polygon ticker.
///
/// Accepted forms:
/// - stocks: an upper-case letter, then up to 11 of `A-Z`, `a-z`, `0-9`, `.`
///   (`AAPL`, `BRK.B`, `BACpB`), no `..`, not ending in `.`;
/// - `X:` crypto and `I:` indices: 1 to 20 of `A-Z`, `0-9` (and `.`, `_`, `-` for indices);
/// - `C:` forex: six upper-case letters;
/// - `O:` options: root (1-6 of `A-Z0-9`), `YYMMDD`, `C` or `P`, 8 digits of strike × 1000.
///
/// Anything else, including path-like input (`../x`, `A/B`), is an [`Error::BadArgument`].
///
/// ```
/// use polygon_model::Ticker;
/// let t: Ticker = "BRK.B".parse().unwrap();
/// assert_eq!(t.as_str(), "BRK.B");
/// assert!("A/B".parse::<Ticker>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Ticker(String);

impl ArchivedTicker {
    /// The symbol as stored (not re-validated: see `ArchivedBarColumns::check`).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Ticker {
    /// Validates `s` as a ticker.
    ///
    /// # Errors
    /// [`Error::BadArgument`] naming `ticker` and the rule it broke.
    pub fn new(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Err(Error::bad("ticker", s, reason));
        if s.is_empty() {
            return bad("must not be empty");
        }
        if s.len() > MAX_TICKER_LEN {
            return bad("longer than 32 bytes");
        }
        let b = s.as_bytes();
        if b.len() > 2 && b[1] == b':' {
            let body = &b[2..];
            let ok = match b[0] {
                b'X' => {
                    (1..=20).contains(&body.len()) && body.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                }
                b'I' => {
                    (1..=20).contains(&body.len())
                        && body
                            .iter()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
                }
                b'C' => body.len() == 6 && body.iter().all(u8::is_ascii_uppercase),
                b'O' => valid_option(body),
                _ => return bad("unknown prefix: expected X:, C:, I: or O:"),
            };
            return if ok {
                Ok(Ticker(s.to_owned()))
            } else {
                bad(match b[0] {
                    b'X' => "crypto tickers are X: then 1-20 of A-Z, 0-9 (X:BTCUSD)",
                    b'I' => "index tickers are I: then 1-20 of A-Z, 0-9, '.', '_', '-' (I:SPX)",
                    b'C' => "forex tickers are C: then six letters (C:EURUSD)",
                    _ => "option tickers are O:ROOT YYMMDD C|P and 8 strike digits (O:SPY251219C00650000)",
                })
            };
        }
        if !b[0].is_ascii_uppercase() {
            return bad("must start with an upper-case letter (or a prefix such as X:)");
        }
        if b.len() > 12 {
            return bad("stock tickers are at most 12 characters");
        }
        if let Some(c) = b.iter().find(|c| !(c.is_ascii_alphanumeric() || **c == b'.')) {
            return Err(Error::bad("ticker", s, format!("character {:?} is not allowed", *c as char)));
        }
        if s.contains("..") || s.ends_with('.') {
            return bad("a '.' must separate two parts (BRK.B)");
        }
        Ok(Ticker(s.to_owned()))
    }

    /// The ticker as Polygon spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The market, from the prefix.
    pub fn kind(&self) -> TickerKind {
        match self.0.as_bytes() {
            [b'X', b':', ..] => TickerKind::Crypto,
            [b'C', b':', ..] => TickerKind::Forex,
            [b'I', b':', ..] => TickerKind::Index,
            [b'O', b':', ..] => TickerKind::Option,
            _ => TickerKind::Stock,
        }
    }
}

fn valid_option(body: &[u8]) -> bool {
    // ROOT(1-6) YYMMDD C|P STRIKE(8)
    if body.len() < 16 || body.len() > 21 {
        return false;
    }
    let root_len = body.len() - 15;
    let (root, rest) = body.split_at(root_len);
    let (date, rest) = rest.split_at(6);
    let (cp, strike) = rest.split_at(1);
    let month = (date[2].wrapping_sub(b'0')) as u32 * 10 + (date[3].wrapping_sub(b'0')) as u32;
    let day = (date[4].wrapping_sub(b'0')) as u32 * 10 + (date[5].wrapping_sub(b'0')) as u32;
    root.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && root[0].is_ascii_uppercase()
        && date.iter().all(u8::is_ascii_digit)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (cp[0] == b'C' || cp[0] == b'P')
        && strike.iter().all(u8::is_ascii_digit)
}

impl FromStr for Ticker {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ticker::new(s)
    }
}

impl TryFrom<&str> for Ticker {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        Ticker::new(s)
    }
}

impl AsRef<str> for Ticker {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticker({})", self.0)
    }
}

impl serde::Serialize for Ticker {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Ticker {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ticker::new(&s).map_err(serde::de::Error::custom)
    }
}

/// `items` without repeats, in first-seen order: the one place the workspace de-duplicates a
/// ticker list (a batch returns one result per distinct ticker).
///
/// ```
/// let d = polygon_model::distinct(["AAPL", "MSFT", "AAPL"]);
/// assert_eq!(d, ["AAPL", "MSFT"]);
/// ```
pub fn distinct<T: Eq + std::hash::Hash + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|t| seen.insert(t.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_polygon_forms() {
        for (s, kind) in [
            ("AAPL", TickerKind::Stock),
            ("A", TickerKind::Stock),
            ("BRK.B", TickerKind::Stock),
            ("BACpB", TickerKind::Stock),
            ("X:BTCUSD", TickerKind::Crypto),
            ("C:EURUSD", TickerKind::Forex),
            ("I:SPX", TickerKind::Index),
            ("O:SPY251219C00650000", TickerKind::Option),
            ("O:A250117P00100000", TickerKind::Option),
        ] {
            let t = Ticker::new(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.as_str(), s);
            assert_eq!(t.kind(), kind, "{s}");
        }
    }

    #[test]
    fn rejects_everything_else_naming_the_parameter() {
        for s in [
            "",
            "aapl",
            "../x",
            "A/B",
            "A B",
            "AAPL\n",
            "BRK..B",
            "BRK.",
            "Z:FOO",
            "X:",
            "X:btc",
            "C:EURUSDX",
            "O:SPY251319C00650000",
            "O:SPY251219X00650000",
            "O:SPY251219C0065000",
            "ABCDEFGHIJKLM",
            "A%2F",
            "AAPL?apiKey=1",
            &"A".repeat(40),
        ] {
            let e = Ticker::new(s).expect_err(s);
            assert_eq!(e.param(), "ticker");
            assert!(e.to_string().starts_with("invalid ticker"), "{e}");
        }
    }
}
