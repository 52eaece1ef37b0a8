//! Splitting a ticker list across N workers that never talk to each other (`fetch --shard K/N`,
//! `shard=(k, n)` in Python): rendezvous (highest random weight) hashing. Worker `k` of `n` takes
//! the tickers whose weight is highest at `k`; every worker given the same list and the same `n`
//! computes the same split, the shards are disjoint and together complete, and going from `n` to
//! `n + 1` workers moves only the tickers the new worker wins (about `1 / (n + 1)` of them).
//!
//! The weight is `pgh200-rendezvous-v1`, fixed for all versions (a golden test pins it):
//! `weight(ticker, k) = splitmix64(fnv1a64(ticker) ^ splitmix64(k))`, where `fnv1a64` is 64-bit
//! FNV-1a over the ticker's UTF-8 bytes (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`) and `splitmix64` is the SplitMix64 finaliser (add `0x9e3779b97f4a7c15`, then
//! xor-shift-multiply by `0xbf58476d1ce4e5b9` and `0x94d049bb133111eb` with shifts 30, 27, 31).
//! A tie goes to the lower `k`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Worker `index` of `count` (counted from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole list: one worker.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Worker `index` of `count`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] unless `count >= 1` and `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, Error> {
        if count == 0 || index >= count {
            return Err(Error::bad("shard", format!("{index}/{count}"), "K/N with N >= 1 and K from 0 to N - 1"));
        }
        Ok(Shard { index, count })
    }

    /// `K`.
    pub fn index(self) -> u32 {
        self.index
    }

    /// `N`.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this worker takes `ticker`.
    pub fn owns(self, ticker: &str) -> bool {
        owner(ticker, self.count) == self.index
    }

    /// The tickers of `tickers` this worker takes, in their order.
    pub fn select<S: AsRef<str>>(self, tickers: &[S]) -> Vec<&str> {
        tickers.iter().map(AsRef::as_ref).filter(|t| self.owns(t)).collect()
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::bad("shard", s, "K/N with N >= 1 and K from 0 to N - 1 (e.g. 0/4)");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (k, n) = (k.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        Shard::new(k, n).map_err(|_| bad())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The worker of `count` (`count >= 1`) that takes `ticker`.
pub fn owner(ticker: &str, count: u32) -> u32 {
    let h = fnv1a64(ticker.as_bytes());
    let mut best = (0u32, weight_of(h, 0));
    for k in 1..count {
        let w = weight_of(h, k);
        if w > best.1 {
            best = (k, w);
        }
    }
    best.0
}

/// `pgh200-rendezvous-v1`: the weight of `ticker` at worker `k`.
pub fn weight(ticker: &str, k: u32) -> u64 {
    weight_of(fnv1a64(ticker.as_bytes()), k)
}

fn weight_of(h: u64, k: u32) -> u64 {
    splitmix64(h ^ splitmix64(u64::from(k)))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tickers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("T{i:05}")).collect()
    }

    /// The split is a contract across versions and languages: these values must never change.
    #[test]
    fn golden_weights_and_owners() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c); // FNV-1a 64's published test vector
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf); // SplitMix64's first output from seed 0
        let golden: Vec<(&str, u64)> = vec![("AAPL", weight("AAPL", 0)), ("MSFT", weight("MSFT", 3))];
        assert_eq!(golden, GOLDEN_WEIGHTS.to_vec());
        let owners: Vec<u32> = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "BRK.B"].iter().map(|t| owner(t, 4)).collect();
        assert_eq!(owners, GOLDEN_OWNERS_OF_4);
    }

    // Computed by an independent Python implementation of the definition in the module docs.
    const GOLDEN_WEIGHTS: [(&str, u64); 2] = [("AAPL", 0xe750_7c66_8b6f_33d2), ("MSFT", 0x01a6_c603_7581_af9d)];
    const GOLDEN_OWNERS_OF_4: [u32; 6] = [2, 2, 1, 0, 3, 2];

    #[test]
    fn shards_are_disjoint_and_complete() {
        let all = tickers(2000);
        for n in 1..=5 {
            let parts: Vec<Vec<&str>> = (0..n).map(|k| Shard::new(k, n).unwrap().select(&all)).collect();
            let mut union: Vec<&str> = parts.iter().flatten().copied().collect();
            assert_eq!(union.len(), all.len(), "n={n}: a ticker in two shards or in none");
            union.sort_unstable();
            let mut want: Vec<&str> = all.iter().map(String::as_str).collect();
            want.sort_unstable();
            assert_eq!(union, want);
            for p in &parts {
                // Roughly even: each within a wide margin of 1/n.
                let share = p.len() as f64 / all.len() as f64;
                assert!((share - 1.0 / f64::from(n)).abs() < 0.05, "n={n}: share {share}");
            }
        }
    }

    #[test]
    fn a_new_worker_takes_only_its_own_tickers() {
        let all = tickers(5000);
        for n in 1..5u32 {
            let mut moved = 0;
            for t in &all {
                let (before, after) = (owner(t, n), owner(t, n + 1));
                if before != after {
                    assert_eq!(after, n, "{t} moved between old workers going from {n} to {}", n + 1);
                    moved += 1;
                }
            }
            let share = f64::from(moved) / all.len() as f64;
            assert!((share - 1.0 / f64::from(n + 1)).abs() < 0.05, "{n} -> {}: {share} moved", n + 1);
        }
    }

    #[test]
    fn parse_and_display() {
        assert_eq!("0/4".parse::<Shard>().unwrap(), Shard::new(0, 4).unwrap());
        assert_eq!(" 3 / 4 ".parse::<Shard>().unwrap().to_string(), "3/4");
        for bad in ["4/4", "1/0", "-1/2", "a/2", "2", "", "1/2/3"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert_eq!(e.param(), "shard", "{bad:?}");
            assert!(e.to_string().contains("K/N"), "{bad:?}: {e}");
        }
        assert_eq!(Shard::ALL.select(&["A", "B"]), ["A", "B"]);
    }
}
