//! What every page and every chunk must satisfy before it is cached: bars inside the requested
//! range, finite, `low <= open, close <= high`, non-negative volume; one bar per timestamp.

use polygon_model::{BarColumns, Timespan};

use crate::Chunk;

/// Checks the rows `from..` of the last series: inside the chunk's range (for bars that start in
/// it), finite, `low <= open, close <= high`, `volume >= 0`.
pub(crate) fn check_page(cols: &BarColumns, from: usize, chunk: &Chunk, timespan: Timespan) -> Result<(), String> {
    let starts_in_range = matches!(timespan, Timespan::Second | Timespan::Minute | Timespan::Hour | Timespan::Day);
    for i in from..cols.len() {
        let b = cols.bar(i).expect("row exists");
        let bad = |what: &str| format!("bar at t={} {what} (o={} h={} l={} c={} v={})", b.t, b.o, b.h, b.l, b.c, b.v);
        if starts_in_range && !(chunk.start_ms..=chunk.end_ms).contains(&b.t) {
            return Err(bad("is outside the requested range"));
        }
        if ![b.o, b.h, b.l, b.c, b.v].iter().all(|x| x.is_finite()) {
            return Err(bad("has a non-finite value"));
        }
        if !(b.l <= b.o.min(b.c) && b.o.max(b.c) <= b.h) {
            return Err(bad("breaks low <= open, close <= high"));
        }
        if b.v < 0.0 {
            return Err(bad("has negative volume"));
        }
    }
    Ok(())
}

/// Sorts the single series by `t` and drops exact duplicates; a conflicting duplicate is an error.
pub(crate) fn sort_dedup(cols: BarColumns) -> Result<BarColumns, String> {
    if cols.t.windows(2).all(|w| w[0] < w[1]) {
        return Ok(cols);
    }
    let mut idx: Vec<usize> = (0..cols.len()).collect();
    idx.sort_by_key(|&i| cols.t[i]);
    let mut out = BarColumns::with_capacity(1, cols.len());
    out.begin_series(cols.tickers[0].clone());
    let mut last: Option<usize> = None;
    for i in idx {
        if let Some(j) = last
            && cols.t[j] == cols.t[i]
        {
            if cols.bar(j) != cols.bar(i) {
                return Err(format!("two different bars at t={}", cols.t[i]));
            }
            continue;
        }
        out.push_row(cols.t[i], cols.o[i], cols.h[i], cols.l[i], cols.c[i], cols.v[i], cols.vw[i], cols.n[i]);
        last = Some(i);
    }
    Ok(out)
}
