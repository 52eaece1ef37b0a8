//! Where bars come from: the REST aggregates endpoint, Massive's flat files, and the planner that
//! picks between them for each chunk of a request and says why.
//!
//! The cache holds one format whatever the source: a chunk is the REST chunk of [`crate::plan`]
//! (a month of minute bars, a year of daily bars), packed. A chunk built from flat files lacks
//! VWAP, so it is stored under the REST chunk's key with `|fields=novw` appended
//! ([`CacheKey::aggregates_without_vwap`]), always as traded (the files are), and adjusted on read
//! with the splits of its ticker. A request that may take a chunk without VWAP (`auto`,
//! `flatfiles`) reads the full key first, then the VWAP-less one; one that needs VWAP (`rest`,
//! `require_vwap`) reads only the full key. So a REST backfill answers a later flat-file request,
//! a flat-file backfill answers a later `auto` one, and indicators never silently lose VWAP.
//!
//! Filling the cache from files is a pre-pass over the whole batch, before the per-chunk path
//! (which then finds the chunks): the chunks missing from the cache, grouped by calendar unit; a
//! unit is served by files only when every session of it has a published file (a unit with
//! today, an unpublished day or a gap goes to REST); each file is downloaded once for all the
//! tickers that need it, as long as their bars fit the memory budget (the tickers are split in
//! halves, each half a pass over the unit's files, when the bars held would exceed it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use polygon_cache::{CacheKey, TtlPolicy};
use polygon_model::{BarColumns, Date, Multiplier, NyseCalendar, PackedBars, SplitRecord, Ticker, Timespan};
use polygon_transport::ObjectInfo;
use serde::Serialize;

use crate::flatfiles::{key_of, prefix_of};
use crate::{Chunk, FetchError, Fetcher, Unit, plan, unit_for};

/// Where bars may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Whichever source can serve each chunk at least cost (the default): flat files where they
    /// are configured, published and cheaper, REST for the rest.
    #[default]
    Auto,
    /// The REST aggregates endpoint only.
    Rest,
    /// Flat files wherever a file holds the sessions (REST only for sessions no file holds yet);
    /// a refusal of the files (credentials, plan) is an error, never a silent switch.
    FlatFiles,
}

impl Source {
    /// `auto`, `rest` or `flatfiles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Auto => "auto",
            Source::Rest => "rest",
            Source::FlatFiles => "flatfiles",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Source::Auto),
            "rest" => Ok(Source::Rest),
            "flatfiles" | "flat-files" | "files" => Ok(Source::FlatFiles),
            other => Err(format!("{other:?} is not a source: auto, rest or flatfiles")),
        }
    }
}

/// Estimated REST bars per session and ticker, by timespan (for bytes and pages; a liquid US
/// stock trades in most of the 960 minutes of a session with extended hours, a thin one in few).
fn bars_per_session(span: Timespan) -> f64 {
    match span {
        Timespan::Second => 6_000.0,
        Timespan::Minute => 500.0,
        Timespan::Hour => 14.0,
        _ => 1.0,
    }
}

/// Estimated bytes of one bar in a REST JSON body (`{"v":…,"vw":…,"o":…,"c":…,"h":…,"l":…,"t":…,"n":…}`).
const REST_BYTES_PER_BAR: f64 = 95.0;

/// Compressed flat-file bytes fetched, gunzipped and decoded a second on one core (measured:
/// `cargo xtask bench flatfiles`, docs/benchmarks.md).
pub const FILE_BYTES_PER_SEC_PER_CORE: f64 = 35.0e6;

/// What one source would cost to fill the chunks it is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// REST requests (against the API's rate limit and quota).
    pub requests: u64,
    /// Flat files downloaded (not charged to the REST quota).
    pub files: u64,
    /// Bytes expected (REST: estimated JSON; files: the listing's sizes, compressed).
    pub bytes: u64,
    /// Estimated seconds: REST requests at the configured rate limit; files at the measured
    /// decode rate on this machine's cores.
    pub seconds: f64,
    /// Bars that would lack VWAP (flat files carry none).
    pub bars_without_vwap: u64,
}

impl Cost {
    fn add(&mut self, o: &Cost) {
        self.requests += o.requests;
        self.files += o.files;
        self.bytes += o.bytes;
        self.seconds += o.seconds;
        self.bars_without_vwap += o.bars_without_vwap;
    }
}

/// The plan for one calendar unit (a month of minute bars, a year of daily bars).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitPlan {
    /// First day of the unit.
    pub from: String,
    /// Last day of the unit.
    pub to: String,
    /// Tickers whose chunk of this unit is not cached (in a form this request may use).
    pub missing: usize,
    /// The source chosen for them.
    pub source: Source,
    /// Why.
    pub why: String,
    /// What REST would cost for them.
    pub rest: Cost,
    /// What flat files would cost for them, when files can serve the unit.
    pub files: Option<Cost>,
}

/// A dry run of a request: per source, what it would cost, what is cached, and the choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourcePlan {
    /// The source asked for.
    pub asked: Source,
    /// Distinct tickers.
    pub tickers: usize,
    /// The timespan, multiplier, range and adjustment asked for.
    pub timespan: String,
    /// Timespans per bar.
    pub multiplier: u32,
    /// First day asked for.
    pub from: String,
    /// Last day asked for.
    pub to: String,
    /// Split-adjusted or as traded.
    pub adjusted: bool,
    /// Whether VWAP is required (chunks without it are not used).
    pub require_vwap: bool,
    /// The cache's unit of storage and REST's request unit (`day`, `month`, `year`, `whole`).
    pub chunk_unit: String,
    /// Chunks the request covers (tickers x units).
    pub chunks: usize,
    /// Chunks already cached in full.
    pub cached: usize,
    /// Chunks cached from flat files (without VWAP) that this request may use.
    pub cached_without_vwap: usize,
    /// Why flat files cannot serve this request, when they cannot.
    pub files_unavailable: Option<String>,
    /// What REST alone would cost for every missing chunk.
    pub all_rest: Cost,
    /// What flat files would cost for the units they can serve (`None` when they can serve none).
    pub all_files: Option<Cost>,
    /// The choice, per unit with missing chunks.
    pub units: Vec<UnitPlan>,
    /// What the choice costs in all.
    pub chosen: Cost,
    /// Bars already cached without VWAP, estimated (they stay without it).
    pub cached_bars_without_vwap: u64,
}

impl SourcePlan {
    /// Chunks the choice sends to flat files.
    pub fn file_chunks(&self) -> usize {
        self.units.iter().filter(|u| u.source == Source::FlatFiles).map(|u| u.missing).sum()
    }

    /// Chunks the choice sends to REST.
    pub fn rest_chunks(&self) -> usize {
        self.units.iter().filter(|u| u.source == Source::Rest).map(|u| u.missing).sum()
    }

    /// One line for the log: what is cached, what goes where, and the cost.
    pub fn summary(&self) -> String {
        let c = &self.chosen;
        let mut s = format!(
            "{} chunks of {} tickers: {} cached, {} cached without VWAP; {} from flat files ({} files, {:.1} MB), {} from REST ({} requests); about {:.1} s",
            self.chunks,
            self.tickers,
            self.cached,
            self.cached_without_vwap,
            self.file_chunks(),
            c.files,
            c.bytes as f64 / 1e6,
            self.rest_chunks(),
            c.requests,
            c.seconds,
        );
        let novw = c.bars_without_vwap + self.cached_bars_without_vwap;
        if novw > 0 {
            s.push_str(&format!("; about {novw} bars without VWAP"));
        }
        if let Some(why) = &self.files_unavailable {
            s.push_str(&format!("; flat files: {why}"));
        }
        s
    }
}

/// How the per-chunk path reads the cache, set by [`Fetcher::prepare`] for one batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadCtx {
    /// Whether chunks without VWAP (from flat files) may answer.
    pub(crate) without_vwap: bool,
    /// The splits of the batch's tickers, by ticker, when such chunks need adjusting.
    pub(crate) splits: Option<Arc<HashMap<Ticker, Vec<SplitRecord>>>>,
    /// The date adjustments are as of (New York, today).
    pub(crate) as_of: Option<Date>,
}

/// A chunk as the cache gave it, and whether it is as traded and must be adjusted on read.
#[derive(Clone)]
pub(crate) struct Part {
    pub(crate) entry: polygon_cache::Entry<PackedBars>,
    pub(crate) adjust: bool,
}

/// The as-traded request of a chunk, whose VWAP-less key holds the chunk built from files.
pub(crate) fn without_vwap_key(chunk: &Chunk) -> CacheKey {
    let mut r = chunk.request.clone();
    r.adjusted = false;
    CacheKey::aggregates_without_vwap(&r)
}

/// One unit of a batch: its chunk per ticker (by ticker index) and which are missing.
struct UnitState {
    from: Date,
    to: Date,
    chunks: Vec<(usize, Chunk)>,
    missing: Vec<usize>,
}

impl Fetcher {
    /// Whether flat files could serve `timespan` x `multiplier` at all (minute and day bars at
    /// multiplier 1: the files hold nothing else), with this fetcher's settings.
    fn files_can_serve(&self, multiplier: Multiplier, timespan: Timespan) -> Result<(), String> {
        if self.files.is_none() {
            return Err("not configured (set POLYGON_S3_ACCESS_KEY_ID and POLYGON_S3_SECRET_ACCESS_KEY)".into());
        }
        if self.require_vwap {
            return Err("VWAP is required and the files carry none".into());
        }
        if multiplier != Multiplier::ONE || prefix_of(timespan).is_none() {
            return Err(format!("the files hold 1-minute and 1-day bars, not {multiplier} {timespan}"));
        }
        Ok(())
    }

    fn rest_rate(&self) -> f64 {
        self.inner.cfg.rest_rate_per_sec.filter(|r| *r > 0.0).unwrap_or(f64::INFINITY)
    }

    fn rest_cost(&self, span: Timespan, sessions: usize, chunks: usize) -> Cost {
        let bars = bars_per_session(span) * sessions as f64;
        let pages = (bars / polygon_model::AGGS_MAX_LIMIT as f64).ceil().max(1.0) as u64;
        let requests = pages * chunks as u64;
        let rate = self.rest_rate();
        Cost {
            requests,
            files: 0,
            bytes: (bars * REST_BYTES_PER_BAR) as u64 * chunks as u64,
            seconds: if rate.is_finite() { requests as f64 / rate } else { 0.0 },
            bars_without_vwap: 0,
        }
    }

    fn files_cost(&self, span: Timespan, sessions: usize, files: &[&ObjectInfo], chunks: usize) -> Cost {
        let bytes: u64 = files.iter().map(|o| o.size).sum();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(FILE_DAYS_AT_ONCE);
        Cost {
            requests: 0,
            files: files.len() as u64,
            bytes,
            seconds: bytes as f64 / (FILE_BYTES_PER_SEC_PER_CORE * cores as f64),
            bars_without_vwap: (bars_per_session(span) * sessions as f64) as u64 * chunks as u64,
        }
    }

    /// The units of a batch and, per unit, each ticker's chunk and whether the cache lacks it (in
    /// a form this fetcher may use), with the counts of cached chunks.
    async fn survey(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        files_may_serve: bool,
    ) -> (Vec<UnitState>, usize, usize) {
        let mut units: BTreeMap<Date, UnitState> = BTreeMap::new();
        for (i, t) in tickers.iter().enumerate() {
            for mut c in plan(t, multiplier, timespan, from, to) {
                c.request.adjusted = self.adjusted;
                let day = |b: polygon_model::TimeBound, or: Date| match b {
                    polygon_model::TimeBound::Date(d) => d,
                    polygon_model::TimeBound::UnixMs(_) => or,
                };
                let (a, b) = (day(c.request.from, from), day(c.request.to, to));
                units.entry(a).or_insert_with(|| UnitState { from: a, to: b, chunks: Vec::new(), missing: Vec::new() });
                units.get_mut(&a).expect("just made").chunks.push((i, c));
            }
        }
        let (mut cached, mut without) = (0, 0);
        let cache = &self.inner.cache;
        for u in units.values_mut() {
            for (i, c) in &u.chunks {
                if cache.get::<PackedBars>(&CacheKey::aggregates(&c.request)).await.is_some() {
                    cached += 1;
                } else if files_may_serve && cache.get::<PackedBars>(&without_vwap_key(c)).await.is_some() {
                    without += 1;
                } else {
                    u.missing.push(*i);
                }
            }
        }
        (units.into_values().collect(), cached, without)
    }

    /// A dry run: what each source would cost for this request, what is cached, and what this
    /// fetcher would choose (its [`Source`], adjustment and VWAP requirement). Asks the cache and
    /// lists the flat files (no REST request, no download).
    ///
    /// # Errors
    /// [`FetchError::BadArgument`] when `to` is before `from`; under [`Source::FlatFiles`],
    /// [`FetchError::FilesUnavailable`] when the files cannot serve the request at all (not
    /// configured, VWAP required, a timespan they do not hold) and the listing's error (bad
    /// credentials, no access), named.
    pub async fn plan_sources(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<SourcePlan, FetchError> {
        Ok(self.plan_units(tickers, multiplier, timespan, from, to).await?.0)
    }

    async fn plan_units(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<(SourcePlan, Vec<(UnitState, Vec<ObjectInfo>)>), FetchError> {
        if to < from {
            return Err(FetchError::BadArgument(polygon_model::Error::BadArgument {
                param: "to",
                value: to.to_string(),
                reason: format!("is before from ({from})"),
            }));
        }
        let unique = polygon_model::distinct(tickers.iter().cloned());
        let mut files_unavailable = self.files_can_serve(multiplier, timespan).err();
        if let Some(reason) = &files_unavailable
            && self.source == Source::FlatFiles
        {
            return Err(FetchError::FilesUnavailable { reason: reason.clone() });
        }
        let may_use_files = files_unavailable.is_none() && self.source != Source::Rest;
        let (units, cached, cached_without_vwap) =
            self.survey(&unique, multiplier, timespan, from, to, may_use_files).await;
        let mut out = SourcePlan {
            asked: self.source,
            tickers: unique.len(),
            timespan: timespan.to_string(),
            multiplier: multiplier.get(),
            from: from.to_string(),
            to: to.to_string(),
            adjusted: self.adjusted,
            require_vwap: self.require_vwap,
            chunk_unit: match unit_for(timespan, multiplier) {
                Unit::Day => "day",
                Unit::Month => "month",
                Unit::Year => "year",
                Unit::Whole => "whole",
            }
            .into(),
            chunks: units.iter().map(|u| u.chunks.len()).sum(),
            cached,
            cached_without_vwap,
            files_unavailable: None,
            all_rest: Cost::default(),
            all_files: None,
            units: Vec::new(),
            chosen: Cost::default(),
            cached_bars_without_vwap: (bars_per_session(timespan) * 21.0) as u64 * cached_without_vwap as u64,
        };
        let mut served = Vec::new();
        let prefix = prefix_of(timespan);
        for u in units {
            if u.missing.is_empty() {
                continue;
            }
            let sessions = NyseCalendar.trading_days(u.from, u.to).count();
            let rest = self.rest_cost(timespan, sessions, u.missing.len());
            out.all_rest.add(&rest);
            let mut unit = UnitPlan {
                from: u.from.to_string(),
                to: u.to.to_string(),
                missing: u.missing.len(),
                source: Source::Rest,
                why: String::new(),
                rest,
                files: None,
            };
            let mut listed = Vec::new();
            match (&files_unavailable, prefix, &self.files) {
                _ if self.source == Source::Rest => {}
                (None, Some(prefix), Some(files)) => match files.published(timespan, u.from, u.to).await {
                    Err(e) => {
                        if self.source == Source::FlatFiles {
                            return Err(e);
                        }
                        tracing::warn!(error = %e, "flat files refused: fetching from REST instead");
                        files_unavailable = Some(format!("refused ({e}); REST instead"));
                        unit.why = "flat files refused".into();
                    }
                    Ok(published) => {
                        let days: Vec<Date> = NyseCalendar.trading_days(u.from, u.to).collect();
                        match days.iter().find(|d| !published.contains_key(d)) {
                            Some(d) => unit.why = format!("no file for {d} yet (or not published): REST"),
                            None if days.is_empty() => unit.why = "no session".into(),
                            None => {
                                let objects: Vec<&ObjectInfo> = days.iter().map(|d| &published[d]).collect();
                                debug_assert!(objects.iter().zip(&days).all(|(o, d)| o.key == key_of(prefix, *d)));
                                let fc = self.files_cost(timespan, sessions, &objects, u.missing.len());
                                out.all_files.get_or_insert_with(Cost::default).add(&fc);
                                unit.files = Some(fc);
                                let choose_files = self.source == Source::FlatFiles || fc.seconds < rest.seconds;
                                if choose_files {
                                    unit.source = Source::FlatFiles;
                                    unit.why = if self.source == Source::FlatFiles {
                                        "flat files asked for".into()
                                    } else {
                                        format!("files {:.1} s < REST {:.1} s", fc.seconds, rest.seconds)
                                    };
                                    listed = objects.into_iter().cloned().collect();
                                } else {
                                    unit.why = format!("REST {:.1} s <= files {:.1} s", rest.seconds, fc.seconds);
                                }
                            }
                        }
                    }
                },
                (Some(why), _, _) => unit.why = format!("flat files: {why}"),
                _ => unit.why = "REST".into(),
            }
            if self.source == Source::Rest {
                unit.why = "REST asked for".into();
            }
            out.chosen.add(if unit.source == Source::FlatFiles { unit.files.as_ref().expect("costed") } else { &rest });
            out.units.push(unit);
            served.push((u, listed));
        }
        out.files_unavailable = files_unavailable;
        Ok((out, served))
    }

    /// Gets a batch ready for the per-chunk path: plans it across sources, fills the cache from
    /// flat files for the units chosen for them, and fetches the splits that chunks from files
    /// need to be adjusted on read. With flat files unconfigured (or `Source::Rest`), it does
    /// nothing and the per-chunk path reads only full chunks.
    pub(crate) async fn prepare(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<ReadCtx, FetchError> {
        if let Err(reason) = self.files_can_serve(multiplier, timespan)
            && self.source == Source::FlatFiles
        {
            return Err(FetchError::FilesUnavailable { reason });
        }
        if self.source == Source::Rest || self.files_can_serve(multiplier, timespan).is_err() || to < from {
            return Ok(ReadCtx::default());
        }
        let unique = polygon_model::distinct(tickers.iter().cloned());
        let (plan, units) = self.plan_units(&unique, multiplier, timespan, from, to).await?;
        tracing::info!(source = %self.source, "plan: {}", plan.summary());
        let mut filled = 0;
        for (u, listed) in &units {
            if listed.is_empty() {
                continue;
            }
            match self.fill_from_files(&unique, u, listed).await {
                Ok(n) => filled += n,
                Err(e) if self.source == Source::FlatFiles => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, from = %u.from, to = %u.to, "flat files failed for this unit: fetching it from REST")
                }
            }
        }
        let mut ctx = ReadCtx { without_vwap: plan.cached_without_vwap + filled > 0, splits: None, as_of: None };
        if ctx.without_vwap && self.adjusted {
            match self.splits(&unique).await {
                Ok(all) => {
                    let mut by: HashMap<Ticker, Vec<SplitRecord>> = HashMap::new();
                    for s in all {
                        if let Ok(t) = s.ticker.parse::<Ticker>() {
                            by.entry(t).or_default().push(s);
                        }
                    }
                    ctx.splits = Some(Arc::new(by));
                    ctx.as_of = polygon_model::ny_date_minute(self.now()).ok().map(|(d, _)| d);
                }
                Err(e) if self.source == Source::FlatFiles => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "splits unavailable: bars from flat files cannot be adjusted, fetching from REST");
                    ctx.without_vwap = false;
                }
            }
        }
        Ok(ctx)
    }

    /// Builds the missing chunks of one unit from its files (every session's, in `listed`) and
    /// stores them (as traded, without VWAP). Returns how many were stored.
    async fn fill_from_files(
        &self,
        tickers: &[Ticker],
        u: &UnitState,
        listed: &[ObjectInfo],
    ) -> Result<usize, FetchError> {
        let files = self.files.clone().expect("files_can_serve checked");
        let budget = self.inner.cfg.flat_file_memory_bytes.max(1);
        let chunk_of: HashMap<usize, &Chunk> = u.chunks.iter().map(|(i, c)| (*i, c)).collect();
        let now = self.now();
        let mut queue: Vec<Vec<usize>> = vec![u.missing.clone()];
        let mut stored = 0;
        let mut passes = 0;
        while let Some(mut group) = queue.pop() {
            passes += 1;
            // Each ticker's bars, day by day, packed (about a sixth of their columns' bytes).
            let mut parts: HashMap<Ticker, Vec<PackedBars>> = HashMap::new();
            let mut held = 0usize;
            let mut names: Vec<Ticker> = group.iter().map(|i| tickers[*i].clone()).collect();
            let mut wanted: std::collections::HashSet<Ticker> = names.iter().cloned().collect();
            let mut day = 0;
            while day < listed.len() {
                let batch: Vec<&ObjectInfo> = listed[day..].iter().take(FILE_DAYS_AT_ONCE).collect();
                let mut set = tokio::task::JoinSet::new();
                for (k, o) in batch.iter().enumerate() {
                    let files = files.clone();
                    let (key, names) = (o.key.clone(), names.clone());
                    set.spawn(async move { (k, files.day(&key, Some(&names)).await) });
                }
                let mut decoded: Vec<Option<polygon_model::FlatFileDay>> = (0..batch.len()).map(|_| None).collect();
                while let Some(j) = set.join_next().await {
                    let (k, r) =
                        j.map_err(|_| FetchError::Cancelled { ticker: format!("flat file {}", batch[0].key) })?;
                    decoded[k] = Some(r?);
                }
                for d in decoded.into_iter().flatten() {
                    let cols = &d.bars;
                    let offsets = cols.offsets();
                    for s in 0..cols.num_series() {
                        let (a, b) = (offsets[s] as usize, offsets[s + 1] as usize);
                        let mut one = BarColumns::with_capacity(1, b - a);
                        one.begin_series(cols.tickers[s].clone());
                        for i in a..b {
                            one.push_row(
                                cols.t[i], cols.o[i], cols.h[i], cols.l[i], cols.c[i], cols.v[i], cols.vw[i], cols.n[i],
                            );
                        }
                        if wanted.contains(&cols.tickers[s]) {
                            let p = PackedBars::pack(&one);
                            held += p.encoded_len();
                            parts.entry(cols.tickers[s].clone()).or_default().push(p);
                        }
                    }
                }
                day += batch.len();
                // Over budget by the end of the unit at this rate: half the tickers wait for a
                // pass of their own.
                let projected = held as f64 * listed.len() as f64 / day as f64;
                if projected > budget as f64 && group.len() > 1 {
                    let later = group.split_off(group.len() / 2);
                    names = group.iter().map(|i| tickers[*i].clone()).collect();
                    wanted = names.iter().cloned().collect();
                    parts.retain(|t, _| wanted.contains(t));
                    held = parts.values().flatten().map(PackedBars::encoded_len).sum();
                    tracing::debug!(
                        keep = group.len(),
                        later = later.len(),
                        "flat-file pass over its memory budget: splitting the tickers"
                    );
                    queue.push(later);
                }
            }
            let _cpu = self.inner.workers.acquire().await.expect("never closed");
            for i in &group {
                let t = &tickers[*i];
                let c = chunk_of[i];
                let mut cols = BarColumns::new();
                cols.begin_series(t.clone());
                for p in parts.get(t).map(Vec::as_slice).unwrap_or_default() {
                    let day = p.unpack();
                    for r in 0..day.len() {
                        cols.push_row(day.t[r], day.o[r], day.h[r], day.l[r], day.c[r], day.v[r], day.vw[r], day.n[r]);
                    }
                }
                let class = TtlPolicy::classify_range(c.end_ms, now);
                self.inner.cache.put(&without_vwap_key(c), &PackedBars::pack(&cols), class).await;
                stored += 1;
            }
        }
        self.inner.counters.file_passes.fetch_add(passes, std::sync::atomic::Ordering::Relaxed);
        self.inner.counters.files.fetch_add(passes * listed.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(from = %u.from, to = %u.to, chunks = stored, passes, files = listed.len(), "filled from flat files");
        Ok(stored)
    }
}

/// Day files downloaded and decoded at once in a flat-file pass.
pub(crate) const FILE_DAYS_AT_ONCE: usize = 2;
