//! The deterministic market: a ticker universe, minute bars, trades and quotes, and exact aggregates.
//!
//! Everything is a pure function of (ticker, time): the same request gives the same bytes in any
//! process. Prices are integers in units of 1/10,000 of a dollar on a $0.01 grid (≥ $1) or a
//! $0.0001 grid (below $1); sums are exact integers, so every coarser bar is the exact aggregate
//! of the minute bars (open of first, high max, low min, close of last, volume sum, vw volume-weighted),
//! and each minute bar is the exact aggregate of its trades.
//!
//! Model: a day's opening log-price is fractal value noise over days (random-walk-like over years,
//! overnight gaps between days); inside a session the price walks minute by minute with a U-shaped
//! activity profile, thin pre- and post-market trading, and empty minutes where nobody traded.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use polygon_model::{Date, MINUTE_MS, NyseCalendar, Session, Timespan};

/// Price units per dollar.
pub const UNITS: i64 = 10_000;

/// splitmix64's finaliser: a good 64-bit mix.
#[inline(always)]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, then mixed.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

#[inline(always)]
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// An approximately standard normal number from 64 random bits (Irwin-Hall of four 16-bit uniforms).
#[inline(always)]
fn normal(x: u64) -> f64 {
    let s = (x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48);
    (s as f64 / 65_536.0 - 2.0) * 3f64.sqrt()
}

/// One listed symbol and the parameters of its simulated market.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The symbol.
    pub ticker: String,
    /// Company name.
    pub name: String,
    /// `XNAS`, `XNYS` or `ARCX`.
    pub exchange: &'static str,
    /// `CS` or `ETF`.
    pub kind: &'static str,
    pub(crate) seed: u64,
    /// Price around 2024, dollars.
    pub(crate) base_price: f64,
    /// Daily log-return volatility.
    pub(crate) daily_vol: f64,
    /// Mean trades per regular-session minute.
    pub(crate) activity: f64,
    pub(crate) lot: u64,
    /// Forward splits, oldest first.
    pub(crate) splits: Vec<Split>,
}

impl Profile {
    /// The ticker's splits, oldest first.
    pub fn splits(&self) -> &[Split] {
        &self.splits
    }
}

/// A forward split as Polygon lists one: from `execution_date` on, `split_from` shares became
/// `split_to`. The simulator models forward splits only (`split_from` is 1), so that as-traded
/// prices are whole ticks: its generator's prices are split-adjusted and its share counts as
/// traded, and a bar before a split of factor F = split_to / split_from is served as traded
/// with prices x F, and split-adjusted with volume x F (its VWAP is the same either way up to
/// that factor). No rounding is involved: every such product is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The first session at the new share count.
    pub execution_date: Date,
    #[allow(missing_docs)]
    pub split_from: u32,
    #[allow(missing_docs)]
    pub split_to: u32,
}

/// Splits of the familiar tickers, as they happened.
const FAMILIAR_SPLITS: &[(&str, &str, u32)] = &[
    ("AAPL", "2020-08-31", 4),
    ("TSLA", "2020-08-31", 5),
    ("NVDA", "2021-07-20", 4),
    ("AMZN", "2022-06-06", 20),
    ("GOOGL", "2022-07-18", 20),
    ("GOOG", "2022-07-18", 20),
    ("TSLA", "2022-08-25", 3),
    ("WMT", "2024-02-26", 3),
    ("NVDA", "2024-06-10", 10),
    ("AVGO", "2024-07-15", 10),
];

/// One synthetic ticker in 12 has split once, on a trading day from 2019 to 2025, 2, 3, 4, 5 or
/// 10 for 1.
fn synthetic_splits(seed: u64) -> Vec<Split> {
    if !mix(seed ^ 5).is_multiple_of(12) {
        return Vec::new();
    }
    let start = Date::from_ymd(2019, 1, 2).expect("a date");
    let day = Date::from_days(start.days() + (mix(seed ^ 6) % (7 * 365)) as i32).expect("a date");
    let execution_date = NyseCalendar.next_trading_day(day);
    let split_to = [2, 3, 4, 5, 10][(mix(seed ^ 7) % 5) as usize];
    vec![Split { execution_date, split_from: 1, split_to }]
}

/// How many of today's shares one share on `date` became: the product of the ratios of the
/// splits executed after `date` and by `today`.
pub fn split_factor(p: &Profile, date: Date, today: Date) -> u64 {
    p.splits
        .iter()
        .filter(|s| s.execution_date > date && s.execution_date <= today)
        .map(|s| u64::from(s.split_to / s.split_from.max(1)))
        .product()
}

/// `b` (a base bar of the generator, on `date`) as served: split-adjusted (volume x F) or as
/// traded (prices x F), F being [`split_factor`] as of `now_ms`.
pub fn served(p: &Profile, mut b: AggBar, date: Date, now_ms: i64, adjusted: bool) -> AggBar {
    if p.splits.is_empty() {
        return b;
    }
    let today = polygon_model::ny_date_minute(now_ms).map_or(date, |(d, _)| d);
    let f = split_factor(p, date, today);
    if f == 1 {
        return b;
    }
    b.notional *= i128::from(f);
    if adjusted {
        b.v *= f;
    } else {
        let k = f as i64;
        (b.o, b.h, b.l, b.c) = (b.o * k, b.h * k, b.l * k, b.c * k);
    }
    b
}

const FAMILIAR: &[(&str, &str, f64, &str, &str)] = &[
    ("AAPL", "Apple Inc.", 190.0, "XNAS", "CS"),
    ("MSFT", "Microsoft Corp", 410.0, "XNAS", "CS"),
    ("NVDA", "Nvidia Corp", 120.0, "XNAS", "CS"),
    ("AMZN", "Amazon.Com Inc", 180.0, "XNAS", "CS"),
    ("GOOGL", "Alphabet Inc. Class A", 165.0, "XNAS", "CS"),
    ("GOOG", "Alphabet Inc. Class C", 166.0, "XNAS", "CS"),
    ("META", "Meta Platforms, Inc. Class A", 500.0, "XNAS", "CS"),
    ("TSLA", "Tesla, Inc.", 220.0, "XNAS", "CS"),
    ("BRK.A", "Berkshire Hathaway Inc. Class A", 620_000.0, "XNYS", "CS"),
    ("BRK.B", "Berkshire Hathaway Inc. Class B", 410.0, "XNYS", "CS"),
    ("JPM", "JPMorgan Chase & Co.", 200.0, "XNYS", "CS"),
    ("V", "Visa Inc.", 275.0, "XNYS", "CS"),
    ("UNH", "UnitedHealth Group Inc", 520.0, "XNYS", "CS"),
    ("XOM", "Exxon Mobil Corp", 112.0, "XNYS", "CS"),
    ("JNJ", "Johnson & Johnson", 155.0, "XNYS", "CS"),
    ("WMT", "Walmart Inc.", 65.0, "XNYS", "CS"),
    ("MA", "Mastercard Incorporated", 460.0, "XNYS", "CS"),
    ("PG", "Procter & Gamble Company", 165.0, "XNYS", "CS"),
    ("AVGO", "Broadcom Inc.", 160.0, "XNAS", "CS"),
    ("HD", "Home Depot, Inc.", 360.0, "XNYS", "CS"),
    ("CVX", "Chevron Corp", 155.0, "XNYS", "CS"),
    ("LLY", "Eli Lilly & Co", 800.0, "XNYS", "CS"),
    ("MRK", "Merck & Co., Inc.", 125.0, "XNYS", "CS"),
    ("ABBV", "AbbVie Inc.", 170.0, "XNYS", "CS"),
    ("KO", "Coca-Cola Co", 62.0, "XNYS", "CS"),
    ("PEP", "PepsiCo, Inc.", 170.0, "XNAS", "CS"),
    ("COST", "Costco Wholesale Corp", 800.0, "XNAS", "CS"),
    ("ADBE", "Adobe Inc.", 520.0, "XNAS", "CS"),
    ("CRM", "Salesforce, Inc.", 270.0, "XNYS", "CS"),
    ("NFLX", "Netflix Inc", 650.0, "XNAS", "CS"),
    ("AMD", "Advanced Micro Devices", 160.0, "XNAS", "CS"),
    ("INTC", "Intel Corp", 30.0, "XNAS", "CS"),
    ("CSCO", "Cisco Systems, Inc.", 48.0, "XNAS", "CS"),
    ("ORCL", "Oracle Corp", 140.0, "XNYS", "CS"),
    ("BAC", "Bank of America Corp", 38.0, "XNYS", "CS"),
    ("WFC", "Wells Fargo & Company", 58.0, "XNYS", "CS"),
    ("DIS", "Walt Disney Company", 100.0, "XNYS", "CS"),
    ("MCD", "McDonald's Corp", 270.0, "XNYS", "CS"),
    ("NKE", "Nike, Inc.", 90.0, "XNYS", "CS"),
    ("T", "AT&T Inc.", 18.0, "XNYS", "CS"),
    ("VZ", "Verizon Communications", 40.0, "XNYS", "CS"),
    ("PFE", "Pfizer Inc.", 28.0, "XNYS", "CS"),
    ("TMO", "Thermo Fisher Scientific Inc.", 570.0, "XNYS", "CS"),
    ("ABT", "Abbott Laboratories", 110.0, "XNYS", "CS"),
    ("QCOM", "Qualcomm Inc", 170.0, "XNAS", "CS"),
    ("TXN", "Texas Instruments Incorporated", 180.0, "XNAS", "CS"),
    ("IBM", "International Business Machines", 180.0, "XNYS", "CS"),
    ("GE", "GE Aerospace", 160.0, "XNYS", "CS"),
    ("CAT", "Caterpillar Inc.", 340.0, "XNYS", "CS"),
    ("BA", "Boeing Company", 190.0, "XNYS", "CS"),
    ("GS", "Goldman Sachs Group, Inc.", 450.0, "XNYS", "CS"),
    ("MS", "Morgan Stanley", 95.0, "XNYS", "CS"),
    ("F", "Ford Motor Company", 12.0, "XNYS", "CS"),
    ("SIRI", "Sirius XM Holdings Inc.", 3.0, "XNAS", "CS"),
    ("SPY", "SPDR S&P 500 ETF Trust", 520.0, "ARCX", "ETF"),
    ("QQQ", "Invesco QQQ Trust, Series 1", 440.0, "XNAS", "ETF"),
    ("IWM", "iShares Russell 2000 ETF", 205.0, "ARCX", "ETF"),
    ("DIA", "SPDR Dow Jones Industrial Average ETF", 390.0, "ARCX", "ETF"),
    ("GLD", "SPDR Gold Shares", 215.0, "ARCX", "ETF"),
    ("TLT", "iShares 20+ Year Treasury Bond ETF", 92.0, "XNAS", "ETF"),
];

/// How many synthetic symbols join the familiar ones.
const SYNTHETIC: usize = 10_000;

/// The ticker universe: familiar large caps and ETFs plus 10,000 synthetic listings, sorted.
#[derive(Debug)]
pub struct Universe {
    profiles: Vec<Profile>,
    index: HashMap<String, usize>,
}

impl Universe {
    /// The process-wide universe (built once, deterministic).
    pub fn get() -> &'static Universe {
        static U: OnceLock<Universe> = OnceLock::new();
        U.get_or_init(Universe::build)
    }

    fn build() -> Universe {
        let mut profiles: Vec<Profile> = FAMILIAR
            .iter()
            .enumerate()
            .map(|(i, &(t, name, price, ex, kind))| {
                let seed = hash_str(t);
                Profile {
                    ticker: t.to_owned(),
                    name: name.to_owned(),
                    exchange: ex,
                    kind,
                    seed,
                    base_price: price,
                    daily_vol: 0.012 + 0.012 * unit(mix(seed ^ 1)),
                    // The first listed are the busiest.
                    activity: 60.0 / (1.0 + i as f64 / 12.0),
                    lot: 100,
                    splits: FAMILIAR_SPLITS
                        .iter()
                        .filter(|s| s.0 == t)
                        .map(|&(_, d, to)| Split {
                            execution_date: d.parse().expect("a split date"),
                            split_from: 1,
                            split_to: to,
                        })
                        .collect(),
                }
            })
            .collect();
        let mut taken: std::collections::HashSet<String> = profiles.iter().map(|p| p.ticker.clone()).collect();
        let mut k: u64 = 0;
        while profiles.len() < FAMILIAR.len() + SYNTHETIC {
            let r = mix(k ^ 0x0005_EED0_F71C_4E85);
            k += 1;
            let len = 3 + (r % 2) as usize; // 3 or 4 letters
            let t: String = (0..len).map(|i| (b'A' + ((r >> (8 + 5 * i)) % 26) as u8) as char).collect();
            if !taken.insert(t.clone()) {
                continue;
            }
            let seed = hash_str(&t);
            let u = unit(mix(seed ^ 2));
            profiles.push(Profile {
                name: format!("{t} Holdings Inc."),
                exchange: if r & (1 << 40) == 0 { "XNAS" } else { "XNYS" },
                kind: if r.is_multiple_of(17) { "ETF" } else { "CS" },
                seed,
                // Log-uniform from $0.50 to $400.
                base_price: (0.5f64.ln() + u * (400f64 / 0.5).ln()).exp(),
                daily_vol: 0.015 + 0.035 * unit(mix(seed ^ 3)),
                activity: 0.3 + 8.0 * unit(mix(seed ^ 4)).powi(2),
                lot: 100,
                splits: synthetic_splits(seed),
                ticker: t,
            });
        }
        profiles.sort_by(|a, b| a.ticker.cmp(&b.ticker));
        let index = profiles.iter().enumerate().map(|(i, p)| (p.ticker.clone(), i)).collect();
        Universe { profiles, index }
    }

    /// The profile of a listed ticker.
    pub fn profile(&self, ticker: &str) -> Option<&Profile> {
        self.index.get(ticker).map(|&i| &self.profiles[i])
    }

    /// All profiles, sorted by ticker.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Number of listed tickers.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Never empty; for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// The tickers one simulator lists: the whole [`Universe`], or a bound of it (`sim --universe N`)
/// so that whole-market tests and benchmarks stay small. A bounded listing keeps the familiar
/// tickers first (AAPL, MSFT, …, in the order of the familiar table), then synthetic ones in
/// ticker order, so that `N` = 500 still serves the large caps; every endpoint (REST and the
/// flat files) serves the same listing, and a ticker outside it is unknown.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Per universe index: listed? `None` lists everything.
    listed: Option<std::sync::Arc<[bool]>>,
}

impl Listing {
    /// The whole universe.
    pub fn all() -> Listing {
        Listing { listed: None }
    }

    /// The first `n` tickers of the universe in the order above (all of them if `n` is larger).
    pub fn bounded(n: usize) -> Listing {
        let u = Universe::get();
        if n >= u.len() {
            return Listing::all();
        }
        let mut listed = vec![false; u.len()];
        let mut left = n;
        for &(t, ..) in FAMILIAR {
            if left == 0 {
                break;
            }
            if let Some(&i) = u.index.get(t) {
                listed[i] = true;
                left -= 1;
            }
        }
        let familiar: std::collections::HashSet<&str> = FAMILIAR.iter().map(|f| f.0).collect();
        for (i, p) in u.profiles.iter().enumerate() {
            if left == 0 {
                break;
            }
            if !familiar.contains(p.ticker.as_str()) {
                listed[i] = true;
                left -= 1;
            }
        }
        Listing { listed: Some(listed.into()) }
    }

    /// The profile of `ticker` if it is listed.
    pub fn profile(&self, ticker: &str) -> Option<&'static Profile> {
        let u = Universe::get();
        let &i = u.index.get(ticker)?;
        self.listed.as_ref().is_none_or(|l| l[i]).then(|| &u.profiles[i])
    }

    /// The listed profiles, sorted by ticker.
    pub fn profiles(&self) -> impl DoubleEndedIterator<Item = &'static Profile> + '_ {
        let u = Universe::get();
        u.profiles.iter().enumerate().filter(|(i, _)| self.listed.as_ref().is_none_or(|l| l[*i])).map(|(_, p)| p)
    }

    /// How many tickers are listed.
    pub fn len(&self) -> usize {
        self.listed.as_ref().map_or(Universe::get().len(), |l| l.iter().filter(|x| **x).count())
    }

    /// Never empty unless bounded to 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One minute of trading, with what is needed to regenerate its trades.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteBar {
    /// Minute start, Unix ms.
    pub t: i64,
    /// Open, high, low, close in price units.
    pub o: i64,
    #[allow(missing_docs)]
    pub h: i64,
    #[allow(missing_docs)]
    pub l: i64,
    #[allow(missing_docs)]
    pub c: i64,
    /// Shares.
    pub v: u64,
    /// Trades.
    pub n: u32,
    /// Σ price × size, in price units × shares.
    pub notional: i128,
    // Trade construction (see `trades_of`).
    pub(crate) rng: u64,
    pub(crate) mid: i64,
    pub(crate) anchors: [u64; 4],
    pub(crate) pair_q: u64,
    pub(crate) lone: u64,
    pub(crate) tick: i64,
    pub(crate) index_in_session: u32,
    pub(crate) extended: bool,
}

fn fbm(seed: u64, day: f64, vol: f64) -> f64 {
    let mut acc = 0.0;
    for k in 0..12 {
        let scale = (1u64 << k) as f64;
        let x = day / scale;
        let x0 = x.floor();
        let f = x - x0;
        let s = f * f * (3.0 - 2.0 * f);
        let h = |xi: f64| unit(mix(seed ^ mix((k as u64) << 40 ^ (xi as i64 as u64)))) * 2.0 - 1.0;
        let v = h(x0) * (1.0 - s) + h(x0 + 1.0) * s;
        acc += v * vol * scale.sqrt() * 0.9;
    }
    acc
}

/// Reference day for `base_price`: 2024-01-02.
const REF_DAY: f64 = 19_724.0;

fn tick_for(units: i64) -> i64 {
    if units >= UNITS { 100 } else { 1 }
}

fn round_to_grid(price: f64) -> (i64, i64) {
    let u = (price * UNITS as f64).round() as i64;
    let tick = tick_for(u);
    (((u + tick / 2) / tick * tick).max(tick), tick)
}

/// The trading minutes of one session, only those with trades.
pub fn session_minutes(p: &Profile, s: &Session) -> Vec<MinuteBar> {
    let day = s.date.days();
    let day_seed = mix(p.seed ^ mix(day as u64 ^ 0xD1CE));
    let open_log = p.base_price.ln() + fbm(p.seed, day as f64, p.daily_vol) - fbm(p.seed, REF_DAY, p.daily_vol);
    let minutes = s.minutes();
    let reg_start = ((s.regular_open - s.pre_open) / MINUTE_MS) as u32;
    let reg_end = ((s.regular_close - s.pre_open) / MINUTE_MS) as u32;
    let reg_len = (reg_end - reg_start) as f64;
    let sigma_min = p.daily_vol / (390f64).sqrt();
    // The session walks as a Brownian bridge to near the next session's open, so overnight gaps
    // stay small (a quarter of a day's volatility) while prices still wander over years.
    let next = NyseCalendar.next_trading_day(s.date).days();
    let next_open = p.base_price.ln() + fbm(p.seed, next as f64, p.daily_vol) - fbm(p.seed, REF_DAY, p.daily_vol);
    let target = next_open + normal(mix(day_seed ^ 0x6A9)) * p.daily_vol * 0.25;
    let mut log_p = open_log;
    let mut out = Vec::with_capacity(minutes as usize);
    for j in 0..minutes {
        let r = mix(day_seed ^ (j as u64).wrapping_mul(0x9E37_79B9));
        let extended = j < reg_start || j >= reg_end;
        let lambda = if extended {
            p.activity * 0.04
        } else {
            let x = (j - reg_start) as f64 / reg_len;
            p.activity * (0.6 + 1.4 * ((-x * 12.0).exp() + (-(1.0 - x) * 18.0).exp()))
        };
        let pull = (target - log_p) / (minutes - j) as f64;
        let step = pull + normal(r) * sigma_min * if extended { 0.3 } else { 1.0 };
        let start = log_p;
        log_p += step;
        // Empty minute: nobody traded (more likely in thin markets).
        let r2 = mix(r);
        if unit(r2) < (-lambda).exp() {
            continue;
        }
        let n = (1.0 + lambda * (0.4 + 1.2 * unit(mix(r2 ^ 1)))).round().clamp(1.0, 5_000.0) as u32;
        let (o, tick) = round_to_grid(start.exp());
        let (c, _) = round_to_grid(log_p.exp());
        let r3 = mix(r2 ^ 2);
        let exc = |bits: u64| -> i64 {
            let e = start.exp() * sigma_min * unit(bits).powi(2) * 1.5 * UNITS as f64;
            (e / tick as f64).floor() as i64 * tick
        };
        let (e_hi, e_lo) = (exc(r3), exc(mix(r3)));
        let lot = p.lot;
        let a = |k: u64| -> u64 {
            let x = mix(r3 ^ (k + 10));
            if x.is_multiple_of(7) { 1 + x % 99 } else { lot * (1 + (x >> 8) % 5) }
        };
        let mut bar = MinuteBar {
            t: s.pre_open + j as i64 * MINUTE_MS,
            o,
            h: 0,
            l: 0,
            c,
            v: 0,
            n,
            notional: 0,
            rng: r3,
            mid: 0,
            anchors: [a(0), a(1), a(2), a(3)],
            pair_q: 0,
            lone: 0,
            tick,
            index_in_session: j,
            extended,
        };
        match n {
            1 => {
                bar.c = o;
                bar.h = o;
                bar.l = o;
                bar.v = bar.anchors[0];
                bar.notional = o as i128 * bar.v as i128;
            }
            2 => {
                bar.h = o.max(c);
                bar.l = o.min(c);
                bar.v = bar.anchors[0] + bar.anchors[3];
                bar.notional = o as i128 * bar.anchors[0] as i128 + c as i128 * bar.anchors[3] as i128;
            }
            3 => {
                let x = if r3 & 1 == 0 { o.max(c) + e_hi } else { (o.min(c) - e_lo).max(tick) };
                bar.h = o.max(c).max(x);
                bar.l = o.min(c).min(x);
                bar.mid = x;
                bar.v = bar.anchors[0] + bar.anchors[1] + bar.anchors[3];
                bar.notional = o as i128 * bar.anchors[0] as i128
                    + x as i128 * bar.anchors[1] as i128
                    + c as i128 * bar.anchors[3] as i128;
            }
            _ => {
                bar.h = o.max(c) + e_hi;
                bar.l = (o.min(c) - e_lo).max(tick);
                bar.mid = (bar.h + bar.l) / 2 / tick * tick;
                let middle = (n - 4) as u64;
                let pairs = middle / 2;
                bar.pair_q = lot * (1 + (r3 >> 20) % 3);
                bar.lone = if middle % 2 == 1 { lot } else { 0 };
                let m_total = 2 * bar.pair_q * pattern_sum(pairs) + bar.lone;
                let [ao, ah, al, ac] = bar.anchors;
                bar.v = ao + ah + al + ac + m_total;
                bar.notional = o as i128 * ao as i128
                    + bar.h as i128 * ah as i128
                    + bar.l as i128 * al as i128
                    + c as i128 * ac as i128
                    + bar.mid as i128 * m_total as i128;
            }
        }
        out.push(bar);
    }
    out
}

/// Σ_{k<pairs} (1 + k mod 4): the size multipliers of the middle trade pairs.
fn pattern_sum(pairs: u64) -> u64 {
    pairs + 6 * (pairs / 4) + [0, 0, 1, 3][(pairs % 4) as usize]
}

/// One simulated trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimTrade {
    /// SIP timestamp, Unix ns.
    pub ts: i64,
    /// Price units.
    pub price: i64,
    /// Shares.
    pub size: u64,
    /// Sequence number within the session.
    pub seq: i64,
    /// Exchange id.
    pub exchange: i32,
    /// Extended-hours trade (condition 12, Form T).
    pub extended: bool,
    /// Quote just before the trade: bid and ask in price units, sizes in lots.
    pub bid: i64,
    #[allow(missing_docs)]
    pub ask: i64,
    #[allow(missing_docs)]
    pub bid_size: u32,
    #[allow(missing_docs)]
    pub ask_size: u32,
    /// Quote SIP timestamp, Unix ns (≤ `ts`, after the previous trade).
    pub quote_ts: i64,
}

const EXCHANGES: [i32; 7] = [4, 10, 11, 12, 15, 19, 21];

/// The trades of one minute bar, in time order: first at the open, last at the close, one at the high
/// and one at the low, the rest in pairs symmetric about the mid, so that their Σ price × size is
/// exactly the bar's `notional` and their sizes sum to `v`.
pub fn trades_of(bar: &MinuteBar) -> Vec<SimTrade> {
    let n = bar.n as usize;
    let mut prices = vec![(0i64, 0u64); n];
    let [ao, ah, al, ac] = bar.anchors;
    match n {
        1 => prices[0] = (bar.o, ao),
        2 => {
            prices[0] = (bar.o, ao);
            prices[1] = (bar.c, ac);
        }
        3 => {
            prices[0] = (bar.o, ao);
            prices[1] = (bar.mid, ah);
            prices[2] = (bar.c, ac);
        }
        _ => {
            let r = bar.rng;
            let inner = (n - 2) as u64;
            let pos_h = 1 + (mix(r ^ 31) % inner) as usize;
            let pos_l = 1 + ((pos_h as u64 - 1 + 1 + mix(r ^ 37) % (inner - 1)) % inner) as usize;
            prices[0] = (bar.o, ao);
            prices[n - 1] = (bar.c, ac);
            prices[pos_h] = (bar.h, ah);
            prices[pos_l] = (bar.l, al);
            let dmax = ((bar.mid - bar.l).min(bar.h - bar.mid) / bar.tick).max(0) as u64;
            let middle = n - 4;
            let mut mi = 0usize;
            for (i, slot) in prices.iter_mut().enumerate().take(n - 1).skip(1) {
                if i == pos_h || i == pos_l {
                    continue;
                }
                let pair = (mi / 2) as u64;
                let px = if middle % 2 == 1 && mi == middle - 1 {
                    (bar.mid, bar.lone)
                } else {
                    let rr = mix(r ^ (1000 + pair));
                    let delta = (rr % (dmax + 1)) as i64 * bar.tick;
                    let sign = if mi.is_multiple_of(2) ^ (rr & (1 << 40) != 0) { 1 } else { -1 };
                    (bar.mid + sign * delta, bar.pair_q * (1 + pair % 4))
                };
                *slot = px;
                mi += 1;
            }
        }
    }
    let minute_ns = bar.t * 1_000_000;
    let slot = 60_000_000_000 / n as i64;
    prices
        .iter()
        .enumerate()
        .map(|(i, &(price, size))| {
            let r = mix(bar.rng ^ (0xABCD_0000 + i as u64));
            let slot_start = minute_ns + i as i64 * slot;
            let ts = slot_start + (r % slot as u64) as i64;
            let spread = |bits: u64| (1 + (bits % 3) as i64) * bar.tick;
            SimTrade {
                ts,
                price,
                size,
                seq: bar.index_in_session as i64 * 10_000 + i as i64 + 1,
                exchange: EXCHANGES[((r >> 24) % EXCHANGES.len() as u64) as usize],
                extended: bar.extended,
                bid: (price - spread(r >> 32)).max(bar.tick.min(price)),
                ask: price + spread(r >> 40),
                bid_size: 1 + ((r >> 48) % 9) as u32,
                ask_size: 1 + ((r >> 52) % 9) as u32,
                quote_ts: slot_start + (ts - slot_start) / 2,
            }
        })
        .collect()
}

/// An aggregate bar in exact integer units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggBar {
    /// Bucket start, Unix ms.
    pub t: i64,
    #[allow(missing_docs)]
    pub o: i64,
    #[allow(missing_docs)]
    pub h: i64,
    #[allow(missing_docs)]
    pub l: i64,
    #[allow(missing_docs)]
    pub c: i64,
    /// Shares.
    pub v: u64,
    /// Trades.
    pub n: u64,
    /// Σ price × size.
    pub notional: i128,
    /// Base bars (1 × timespan) inside this bar.
    pub base: u32,
}

impl AggBar {
    fn from_minute(m: &MinuteBar) -> AggBar {
        AggBar { t: m.t, o: m.o, h: m.h, l: m.l, c: m.c, v: m.v, n: m.n as u64, notional: m.notional, base: 1 }
    }

    /// Folds `next` (later in time) into `self`.
    pub fn absorb(&mut self, next: &AggBar) {
        self.h = self.h.max(next.h);
        self.l = self.l.min(next.l);
        self.c = next.c;
        self.v += next.v;
        self.n += next.n;
        self.notional += next.notional;
        self.base += next.base;
    }

    /// VWAP in dollars, rounded to 4 decimals as Polygon reports it.
    pub fn vw(&self) -> f64 {
        if self.v == 0 {
            return 0.0;
        }
        let q = self.notional as f64 / self.v as f64;
        q.round() / UNITS as f64
    }
}

/// Converts price units to dollars.
pub fn dollars(units: i64) -> f64 {
    units as f64 / UNITS as f64
}

/// One shard of the whole-day cache: (ticker seed, day) to the day's bar.
type DayShard = Mutex<HashMap<(u64, i32), Option<AggBar>>>;

/// A cache of whole-day aggregates, which daily and coarser bars are built from.
fn day_cache() -> &'static [DayShard; 16] {
    static C: OnceLock<[DayShard; 16]> = OnceLock::new();
    C.get_or_init(|| std::array::from_fn(|_| Mutex::new(HashMap::new())))
}

/// The whole-day bar of one session (t = the New York midnight of the day), `None` if nothing traded.
pub fn day_bar(p: &Profile, s: &Session) -> Option<AggBar> {
    let key = (p.seed, s.date.days());
    let shard = &day_cache()[(mix(key.0 ^ key.1 as u64) % 16) as usize];
    if let Some(hit) = shard.lock().expect("day cache lock").get(&key) {
        return *hit;
    }
    let minutes = session_minutes(p, s);
    let mut it = minutes.iter().map(AggBar::from_minute);
    let bar = it.next().map(|first| {
        let mut acc = first;
        it.for_each(|m| acc.absorb(&m));
        acc.t = s.date.ny_unix_ms(0);
        acc.base = 1;
        acc
    });
    let mut map = shard.lock().expect("day cache lock");
    if map.len() > 200_000 {
        map.clear();
    }
    map.insert(key, bar);
    bar
}

/// The start (Unix ms) of the `multiplier` × `timespan` bucket holding a base bar at `t`
/// (`date` is that bar's New York date). Fixed spans align to the Unix epoch; days, weeks
/// (starting Sunday), months, quarters and years to New York midnights, counted from 1970.
pub fn bucket_start(timespan: Timespan, multiplier: u32, t: i64, date: Date) -> i64 {
    let k = multiplier as i64;
    if let Some(span) = timespan.fixed_ms() {
        return t.div_euclid(span * k) * span * k;
    }
    let (y, m, _) = date.ymd();
    let day_of = |days: i64| Date::from_days(days as i32).expect("bucket within range").ny_unix_ms(0);
    let month_start = |months: i64| {
        let y = months.div_euclid(12) as i32;
        let m = months.rem_euclid(12) as u32 + 1;
        Date::from_ymd(y, m, 1).expect("bucket within range").ny_unix_ms(0)
    };
    match timespan {
        Timespan::Day => day_of((date.days() as i64).div_euclid(k) * k),
        // 1970-01-04 (day 3) was a Sunday.
        Timespan::Week => day_of(((date.days() as i64 - 3).div_euclid(7)).div_euclid(k) * k * 7 + 3),
        Timespan::Month => month_start((y as i64 * 12 + m as i64 - 1).div_euclid(k) * k),
        Timespan::Quarter => month_start(((y as i64 * 12 + m as i64 - 1) / 3).div_euclid(k) * k * 3),
        _ => month_start((y as i64).div_euclid(k) * k * 12),
    }
}

/// Every `multiplier` × `timespan` bar of a ticker, ascending, built from the base bars
/// (1 × `timespan`) that start in `from..=to` (Unix ms) and end by `now_ms`. A bar is stamped with
/// its bucket's start, which for weeks, months and longer can precede `from` (Polygon's convention).
pub fn aggregates(p: &Profile, timespan: Timespan, multiplier: u32, from: i64, to: i64, now_ms: i64) -> Vec<AggBar> {
    aggregates_as(p, timespan, multiplier, from, to, now_ms, true)
}

/// [`aggregates`], split-adjusted or (`adjusted` false) as traded: each base bar is converted
/// ([`served`]) before it is grouped, so a week holding a split holds the prices traded in it.
pub fn aggregates_as(
    p: &Profile,
    timespan: Timespan,
    multiplier: u32,
    from: i64,
    to: i64,
    now_ms: i64,
    adjusted: bool,
) -> Vec<AggBar> {
    let cal = NyseCalendar;
    if to < from {
        return Vec::new();
    }
    let (Ok((first_day, _)), Ok((last_day, _))) =
        (polygon_model::ny_date_minute(from), polygon_model::ny_date_minute(to))
    else {
        return Vec::new();
    };
    let mut base: Vec<AggBar> = Vec::new();
    for day in cal.trading_days(first_day, last_day) {
        let s = cal.session(day).expect("trading day has a session");
        if s.pre_open + MINUTE_MS > now_ms {
            break;
        }
        match timespan {
            Timespan::Second | Timespan::Minute | Timespan::Hour => {
                for m in session_minutes(p, &s).iter().filter(|m| m.t + MINUTE_MS <= now_ms) {
                    match timespan {
                        Timespan::Second => base.extend(second_bars(m)),
                        Timespan::Minute => base.push(AggBar::from_minute(m)),
                        _ => push_into(
                            &mut base,
                            AggBar::from_minute(m),
                            bucket_start(Timespan::Hour, 1, m.t, day),
                            true,
                        ),
                    }
                }
            }
            _ => {
                if s.post_close > now_ms {
                    break; // the day's bar is final only after the session: none for today
                }
                if let Some(b) = day_bar(p, &s) {
                    base.push(b);
                }
            }
        }
    }
    base.retain(|b| b.t >= from && b.t <= to);
    // Group base bars into multiplier × timespan buckets.
    let mut out: Vec<AggBar> = Vec::new();
    for b in base {
        let (date, _) = polygon_model::ny_date_minute(b.t).expect("in range");
        let b = served(p, b, date, now_ms, adjusted);
        let start = bucket_start(timespan, multiplier, b.t, date);
        push_into(&mut out, b, start, false);
    }
    out
}

/// Appends `b` to the bar starting at `start` (the last one) or begins a new bar there.
/// With `base_unit`, a merged bar still counts as one base bar.
fn push_into(out: &mut Vec<AggBar>, b: AggBar, start: i64, base_unit: bool) {
    match out.last_mut() {
        Some(last) if last.t == start => {
            last.absorb(&b);
            if base_unit {
                last.base = 1;
            }
        }
        _ => out.push(AggBar { t: start, base: if base_unit { 1 } else { b.base }, ..b }),
    }
}

/// One-second bars of a minute, from its trades.
fn second_bars(m: &MinuteBar) -> Vec<AggBar> {
    let mut out: Vec<AggBar> = Vec::new();
    for tr in trades_of(m) {
        let b = AggBar {
            t: tr.ts / 1_000_000_000 * 1000,
            o: tr.price,
            h: tr.price,
            l: tr.price,
            c: tr.price,
            v: tr.size,
            n: 1,
            notional: tr.price as i128 * tr.size as i128,
            base: 1,
        };
        let start = b.t;
        push_into(&mut out, b, start, true);
    }
    out
}

/// The trades (or, with `quotes`, the quotes before them) of a ticker with SIP timestamps in
/// `gte..lt` (ns), ascending or descending, up to `now_ms`. Stops after `max` (generation is lazy by day).
pub fn ticks(p: &Profile, gte: i64, lt: i64, now_ms: i64, max: usize, desc: bool, quotes: bool) -> Vec<SimTrade> {
    let cal = NyseCalendar;
    let lt = lt.min(now_ms.saturating_mul(1_000_000));
    if lt <= gte || max == 0 {
        return Vec::new();
    }
    // Nothing trades before 1990 in the simulator; clamp open-ended ranges.
    let gte = gte.max(631_152_000_000_000_000);
    let Ok((d0, _)) = polygon_model::ny_date_minute(gte.div_euclid(1_000_000)) else { return Vec::new() };
    let Ok((d1, _)) = polygon_model::ny_date_minute((lt - 1).div_euclid(1_000_000)) else { return Vec::new() };
    let key = |t: &SimTrade| if quotes { t.quote_ts } else { t.ts };
    let mut out = Vec::new();
    let mut visit = |day: Date| -> bool {
        let s = cal.session(day).expect("trading day");
        let mut day_ticks: Vec<SimTrade> = session_minutes(p, &s)
            .iter()
            .filter(|m| m.t * 1_000_000 < lt && (m.t + MINUTE_MS) * 1_000_000 > gte && m.t + MINUTE_MS <= now_ms)
            .flat_map(trades_of)
            .filter(|t| (gte..lt).contains(&key(t)))
            .collect();
        if desc {
            day_ticks.reverse();
        }
        out.extend(day_ticks);
        out.len() >= max
    };
    if desc {
        let mut d = d1;
        while d >= d0 {
            if cal.is_trading_day(d) && visit(d) {
                break;
            }
            d = d.add_days(-1);
        }
    } else {
        for d in cal.trading_days(d0, d1) {
            if visit(d) {
                break;
            }
        }
    }
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Session {
        NyseCalendar.session(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn universe_is_large_sorted_and_has_the_large_caps() {
        let u = Universe::get();
        assert!(u.len() >= 10_000);
        assert!(u.profiles().windows(2).all(|w| w[0].ticker < w[1].ticker));
        for t in ["AAPL", "MSFT", "BRK.B", "SPY"] {
            assert!(u.profile(t).is_some(), "{t}");
        }
        for p in u.profiles() {
            polygon_model::Ticker::new(&p.ticker).unwrap();
        }
    }

    #[test]
    fn minute_bars_stay_in_session_and_are_consistent() {
        let u = Universe::get();
        for t in ["AAPL", "SIRI", &u.profiles()[5000].ticker.clone()] {
            let p = u.profile(t).unwrap();
            for d in ["2024-03-08", "2024-03-11", "2024-11-29", "2019-07-03"] {
                let s = day(d);
                let bars = session_minutes(p, &s);
                assert!(!bars.is_empty());
                assert!(bars.len() as u32 <= s.minutes());
                for b in &bars {
                    assert!(s.contains(b.t), "{t} {d}");
                    assert!(b.l > 0 && b.l <= b.o.min(b.c) && b.h >= b.o.max(b.c), "{b:?}");
                    let tr = trades_of(b);
                    assert_eq!(tr.len(), b.n as usize);
                    assert_eq!(tr.first().unwrap().price, b.o);
                    assert_eq!(tr.last().unwrap().price, b.c);
                    assert_eq!(tr.iter().map(|x| x.price).max(), Some(b.h));
                    assert_eq!(tr.iter().map(|x| x.price).min(), Some(b.l));
                    assert_eq!(tr.iter().map(|x| x.size).sum::<u64>(), b.v);
                    assert_eq!(tr.iter().map(|x| x.price as i128 * x.size as i128).sum::<i128>(), b.notional);
                    assert!(tr.windows(2).all(|w| w[0].ts < w[1].ts && w[0].ts < w[1].quote_ts));
                    assert!(tr.iter().all(|x| x.ts / 1_000_000 >= b.t && x.ts / 1_000_000 < b.t + MINUTE_MS));
                    assert!(tr.iter().all(|x| x.bid <= x.price && x.price <= x.ask && x.bid > 0));
                }
            }
        }
    }

    #[test]
    fn busy_tickers_trade_most_minutes_and_thin_ones_leave_gaps() {
        let u = Universe::get();
        let s = day("2024-06-03");
        let aapl = session_minutes(u.profile("AAPL").unwrap(), &s).len();
        assert!(aapl > 700, "{aapl}");
        let thin = u.profiles().iter().map(|p| session_minutes(p, &s).len()).min().unwrap();
        assert!(thin < 400, "{thin}");
    }

    #[test]
    fn coarser_bars_are_exact_aggregates_of_minutes() {
        let p = Universe::get().profile("MSFT").unwrap();
        let from = "2024-03-04".parse::<Date>().unwrap();
        let to = "2024-03-15".parse::<Date>().unwrap();
        let now = i64::MAX / 4;
        let (f, t) = (from.ny_unix_ms(0), to.add_days(1).ny_unix_ms(0) - 1);
        let minutes = aggregates(p, Timespan::Minute, 1, f, t, now);
        for (ts, k) in
            [(Timespan::Minute, 5), (Timespan::Hour, 1), (Timespan::Day, 1), (Timespan::Day, 2), (Timespan::Week, 1)]
        {
            let agg = aggregates(p, ts, k, f, t, now);
            assert!(agg.len() > 1, "{ts}");
            assert_eq!(agg.iter().map(|b| b.v).sum::<u64>(), minutes.iter().map(|b| b.v).sum::<u64>(), "{ts}");
            for b in &agg {
                let inside: Vec<&AggBar> = minutes
                    .iter()
                    .filter(|m| {
                        let (d, _) = polygon_model::ny_date_minute(m.t).unwrap();
                        bucket_start(ts, k, m.t, d) == b.t
                    })
                    .collect();
                assert_eq!(b.o, inside[0].o);
                assert_eq!(b.c, inside.last().unwrap().c);
                assert_eq!(b.h, inside.iter().map(|m| m.h).max().unwrap());
                assert_eq!(b.l, inside.iter().map(|m| m.l).min().unwrap());
                assert_eq!(b.n, inside.iter().map(|m| m.n).sum::<u64>());
                assert_eq!(b.notional, inside.iter().map(|m| m.notional).sum::<i128>());
            }
        }
        // Seconds sum back to the minute.
        let secs = aggregates(p, Timespan::Second, 1, minutes[100].t, minutes[100].t + MINUTE_MS - 1, now);
        assert_eq!(secs.iter().map(|b| b.v).sum::<u64>(), minutes[100].v);
        assert_eq!(secs.first().unwrap().o, minutes[100].o);
    }

    #[test]
    fn deterministic_and_nothing_from_the_future() {
        let p = Universe::get().profile("AAPL").unwrap();
        let s = day("2024-01-02");
        assert_eq!(session_minutes(p, &s), session_minutes(p, &s));
        let now = s.regular_open;
        let bars = aggregates(p, Timespan::Minute, 1, s.pre_open, s.post_close, now);
        assert!(bars.iter().all(|b| b.t + MINUTE_MS <= now));
        assert!(aggregates(p, Timespan::Day, 1, s.pre_open - 86_400_000, s.post_close, now).is_empty());
    }

    #[test]
    fn bucket_alignment() {
        let d: Date = "2024-03-13".parse().unwrap(); // a Wednesday
        let t = d.ny_unix_ms(600);
        assert_eq!(bucket_start(Timespan::Week, 1, t, d), "2024-03-10".parse::<Date>().unwrap().ny_unix_ms(0));
        assert_eq!(bucket_start(Timespan::Month, 1, t, d), "2024-03-01".parse::<Date>().unwrap().ny_unix_ms(0));
        assert_eq!(bucket_start(Timespan::Quarter, 1, t, d), "2024-01-01".parse::<Date>().unwrap().ny_unix_ms(0));
        assert_eq!(bucket_start(Timespan::Year, 1, t, d), "2024-01-01".parse::<Date>().unwrap().ny_unix_ms(0));
        assert_eq!(bucket_start(Timespan::Minute, 5, t + 7 * MINUTE_MS, d), t + 5 * MINUTE_MS);
    }

    #[test]
    fn splits_scale_traded_prices_and_adjusted_volumes_exactly() {
        let u = Universe::get();
        let p = u.profile("NVDA").expect("NVDA");
        let now = Date::from_ymd(2026, 12, 1).unwrap().ny_unix_ms(0);
        let split = Date::from_ymd(2024, 6, 10).unwrap().ny_unix_ms(0);
        let (f, t) = (Date::from_ymd(2024, 6, 3).unwrap().ny_unix_ms(0), day("2024-06-14").post_close);
        let adj = aggregates_as(p, Timespan::Day, 1, f, t, now, true);
        let raw = aggregates_as(p, Timespan::Day, 1, f, t, now, false);
        assert_eq!(adj.len(), 10);
        for (a, r) in adj.iter().zip(&raw) {
            let k: i64 = if a.t < split { 10 } else { 1 };
            assert_eq!((r.o, r.h, r.l, r.c), (a.o * k, a.h * k, a.l * k, a.c * k), "{a:?} {r:?}");
            assert_eq!((r.v * k as u64, r.n), (a.v, a.n), "{a:?} {r:?}");
            // Each VWAP is rounded to 4 decimals, as Polygon reports it: equal up to that.
            assert!((r.vw() - a.vw() * k as f64).abs() <= 0.5e-4 * (k + 1) as f64, "{a:?} {r:?}");
        }
        // A week holding the split holds the prices traded in it: the pre-split high.
        let week = aggregates_as(p, Timespan::Week, 1, f, t, now, false);
        assert_eq!(week[1].h, raw[5..].iter().map(|b| b.h).max().unwrap().max(week[1].h));
        assert!(raw[..5].iter().all(|b| b.l > raw[5..].iter().map(|b| b.h).max().unwrap()));
        // Before NVDA's 2021 split the factor is both splits'; after today's date, none applies.
        assert_eq!(split_factor(p, Date::from_ymd(2021, 1, 4).unwrap(), Date::from_ymd(2026, 12, 1).unwrap()), 40);
        assert_eq!(split_factor(p, Date::from_ymd(2021, 1, 4).unwrap(), Date::from_ymd(2021, 7, 19).unwrap()), 1);
        // Some synthetic tickers split too, not most.
        let with = u.profiles().iter().filter(|p| !p.splits().is_empty()).count();
        assert!(with > u.len() / 20 && with < u.len() / 6, "{with} of {}", u.len());
    }
}
