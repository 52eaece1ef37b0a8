//! The CPU backend against a plainly written f64 reference, against pandas, and on edge cases.

use polygon_gpu::{Backend, CpuBackend, Indicators};
use polygon_model::{Bar, BarColumns, Date};
use proptest::prelude::*;

/// ln(a / b) as exactly as f64 allows: near each other `a - b` is exact, so `ln_1p` of the
/// return keeps the digits that `(a / b).ln()` loses to the rounded ratio (a one-cent move of a
/// $600,000 share is a return of 1.7e-8; the rounded ratio's error is 7e-9 of it). A difference
/// of logs would cancel instead.
fn ln_ratio(a: f64, b: f64) -> f64 {
    if (a - b).abs() <= 0.5 * b.abs() { ((a - b) / b).ln_1p() } else { (a / b).ln() }
}

/// The reference: each value computed on its own from its window, the obvious way.
fn reference(t: &[i64], h: &[f64], l: &[f64], c: &[f64], v: &[f64], vw: &[Option<f64>]) -> Indicators {
    let n = c.len();
    let nan = || vec![f64::NAN; n];
    let mut r = Indicators {
        log_return: nan(),
        sma_20: nan(),
        ema_20: nan(),
        std_20: nan(),
        bb_upper_20: nan(),
        bb_lower_20: nan(),
        rsi_14: nan(),
        vwap: nan(),
    };
    for i in 1..n {
        r.log_return[i] = ln_ratio(c[i], c[i - 1]);
    }
    for i in 0..n {
        if i >= 19 {
            let w = &c[i - 19..=i];
            let mean = w.iter().sum::<f64>() / 20.0;
            let pop = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 20.0).sqrt();
            r.sma_20[i] = mean;
            r.bb_upper_20[i] = mean + 2.0 * pop;
            r.bb_lower_20[i] = mean - 2.0 * pop;
        }
        if i >= 20 {
            let w: Vec<f64> = (i - 19..=i).map(|j| ln_ratio(c[j], c[j - 1])).collect();
            let mean = w.iter().sum::<f64>() / 20.0;
            r.std_20[i] = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 19.0).sqrt();
        }
        r.ema_20[i] = if i == 0 { c[0] } else { (2.0 / 21.0) * c[i] + (19.0 / 21.0) * r.ema_20[i - 1] };
    }
    if n > 14 {
        let gains: Vec<f64> = (1..n).map(|i| (c[i] - c[i - 1]).max(0.0)).collect();
        let losses: Vec<f64> = (1..n).map(|i| (c[i - 1] - c[i]).max(0.0)).collect();
        let mut ag = gains[..14].iter().sum::<f64>() / 14.0;
        let mut al = losses[..14].iter().sum::<f64>() / 14.0;
        for i in 14..n {
            if i > 14 {
                ag = (13.0 * ag + gains[i - 1]) / 14.0;
                al = (13.0 * al + losses[i - 1]) / 14.0;
            }
            r.rsi_14[i] = if al == 0.0 { 100.0 } else { 100.0 - 100.0 / (1.0 + ag / al) };
        }
    }
    let day = |ms: i64| polygon_model::ny_date_minute(ms).unwrap().0;
    for i in 0..n {
        let start = (0..=i).rev().take_while(|&j| day(t[j]) == day(t[i])).last().unwrap();
        let (mut pv, mut vv) = (0.0, 0.0);
        for j in start..=i {
            let p = vw[j].unwrap_or((h[j] + l[j] + c[j]) / 3.0);
            pv += p * v[j];
            vv += v[j];
        }
        r.vwap[i] = pv / vv;
    }
    r
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn assert_matches(got: &Indicators, want: &Indicators, rel: f64, what: &str) {
    for (k, (g, w)) in got.columns().iter().zip(want.columns()).enumerate() {
        assert_eq!(g.len(), w.len());
        for i in 0..g.len() {
            assert!(close(g[i], w[i], rel), "{what}: {} row {i}: got {} want {}", Indicators::NAMES[k], g[i], w[i]);
        }
    }
}

/// One series as columns: t, high, low, close, volume, vwap (absent or not).
type Series = (Vec<i64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<Option<f64>>);

/// A series of `n` minute bars from `start` (Unix ms), crossing sessions.
fn series(n: usize, seed: u64, start: i64, base: f64) -> Series {
    let mut x = seed | 1;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut t, mut h, mut l, mut c, mut v, mut vw) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut p = base;
    let mut ts = start;
    for i in 0..n {
        p *= 1.0 + (rnd() - 0.5) * 0.01;
        let spread = p * 0.002 * rnd();
        t.push(ts);
        // Every 300 bars, jump to the next morning: VWAP must restart.
        ts += if i % 300 == 299 { 14 * 3_600_000 } else { 60_000 };
        c.push(p);
        h.push(p + spread);
        l.push(p - spread);
        v.push((100.0 + 1000.0 * rnd()).round());
        vw.push(if rnd() < 0.8 { Some(p + spread * (rnd() - 0.5)) } else { None });
    }
    (t, h, l, c, v, vw)
}

fn columns_of(list: &[(&str, &Series)]) -> BarColumns {
    let mut cols = BarColumns::new();
    for (name, (t, h, l, c, v, vw)) in list {
        cols.begin_series(name.parse().unwrap());
        for i in 0..t.len() {
            cols.push(&Bar { v: v[i], vw: vw[i], o: c[i], c: c[i], h: h[i], l: l[i], t: t[i], n: None, otc: None });
        }
    }
    cols
}

const MONDAY_0930: i64 = 1_704_205_800_000; // 2024-01-02 09:30 New York

#[test]
fn tickers_of_very_different_lengths_in_one_chunk_match_the_reference() {
    let lengths = [0usize, 1, 2, 14, 15, 19, 20, 21, 37, 1_000, 5_000];
    let data: Vec<_> = lengths
        .iter()
        .enumerate()
        .map(|(k, &n)| series(n, 7 + k as u64, MONDAY_0930, 50.0 + 40.0 * k as f64))
        .collect();
    let names: Vec<String> = (0..lengths.len()).map(|k| format!("T{k}")).collect();
    let list: Vec<(&str, &_)> = names.iter().map(String::as_str).zip(data.iter()).collect();
    let cols = columns_of(&list);
    let got = CpuBackend::new().compute(&cols).unwrap();
    for (k, d) in data.iter().enumerate() {
        let r = cols.offsets()[k] as usize..cols.offsets()[k + 1] as usize;
        let slice = |v: &[f64]| v[r.clone()].to_vec();
        let got_k = Indicators {
            log_return: slice(&got.log_return),
            sma_20: slice(&got.sma_20),
            ema_20: slice(&got.ema_20),
            std_20: slice(&got.std_20),
            bb_upper_20: slice(&got.bb_upper_20),
            bb_lower_20: slice(&got.bb_lower_20),
            rsi_14: slice(&got.rsi_14),
            vwap: slice(&got.vwap),
        };
        let want = reference(&d.0, &d.1, &d.2, &d.3, &d.4, &d.5);
        assert_matches(&got_k, &want, 1e-9, &format!("series of {} bars", lengths[k]));
    }
}

#[test]
fn edge_cases_constant_prices_short_series_and_day_boundaries() {
    let n = 30;
    let flat = (
        (0..n as i64).map(|i| MONDAY_0930 + i * 60_000).collect::<Vec<_>>(),
        vec![10.0; n],
        vec![10.0; n],
        vec![10.0; n],
        vec![5.0; n],
        vec![None; n],
    );
    let got = CpuBackend::new().compute(&columns_of(&[("FLAT", &flat)])).unwrap();
    assert_eq!(got.std_20[25], 0.0);
    assert_eq!((got.bb_upper_20[25], got.bb_lower_20[25], got.sma_20[25]), (10.0, 10.0, 10.0));
    assert_eq!(got.rsi_14[20], 100.0, "no losses: RSI 100");
    assert!(got.rsi_14[13].is_nan() && !got.rsi_14[14].is_nan(), "first RSI at bar 14");
    assert!(got.std_20[19].is_nan() && !got.std_20[20].is_nan(), "first std at bar 20");
    assert!(got.log_return[0].is_nan() && got.ema_20[0] == 10.0 && got.vwap[0] == 10.0);

    // VWAP restarts on a new New York day, even across a weekend gap.
    let fri = Date::from_ymd(2024, 1, 5).unwrap().ny_unix_ms(15 * 60);
    let mon = Date::from_ymd(2024, 1, 8).unwrap().ny_unix_ms(9 * 60 + 30);
    let two_days = (
        vec![fri, fri + 60_000, mon],
        vec![1.0, 3.0, 7.0],
        vec![1.0, 3.0, 7.0],
        vec![1.0, 3.0, 7.0],
        vec![1.0, 1.0, 1.0],
        vec![None, None, None],
    );
    let got = CpuBackend::new().compute(&columns_of(&[("GAP", &two_days)])).unwrap();
    assert_eq!(got.vwap, [1.0, 2.0, 7.0]);
}

/// The sliding windows against the two-pass reference where sliding sums go wrong: a jump then a
/// flat stretch (cancellation), a NaN close (poison), magnitudes from 1e-4 to 1e8, and one series
/// long enough (40,000 bars, hundreds of blocks) that the indicators run in parallel within it.
#[test]
fn sliding_windows_survive_jumps_flat_stretches_nan_and_long_series() {
    let mut d = series(40_000, 99, MONDAY_0930, 120.0);
    let c = &mut d.3;
    for (i, x) in c.iter_mut().enumerate() {
        match i {
            5_000..5_100 => *x = 120_000.0, // a 1000x jump, then 100 identical closes
            5_100..5_150 => *x *= 1e6,      // then 1e8
            9_000..9_300 => *x = 1e-4 + (i % 3) as f64 * 1e-6, // tiny and barely moving
            20_000 => *x = f64::NAN,        // one missing close
            30_000..30_040 => *x = 77.0,    // flat again, after the walk
            _ => {}
        }
    }
    let got = CpuBackend::new().compute(&columns_of(&[("LONG", &d)])).unwrap();
    let want = reference(&d.0, &d.1, &d.2, &d.3, &d.4, &d.5);
    assert_matches(&got, &want, 1e-9, "adversarial long series");
    assert_eq!(got.std_20[5_080], 0.0, "20 identical closes: the log returns are exactly 0");
    assert!(got.sma_20[20_019].is_nan() && !got.sma_20[20_020].is_nan(), "the NaN leaves the window after 20 bars");
}

#[test]
fn compute_into_reuses_the_buffers_and_overwrites_every_value() {
    let big = series(3_000, 5, MONDAY_0930, 80.0);
    let small = series(700, 6, MONDAY_0930, 3.0);
    let b = CpuBackend::new();
    let mut out = Indicators::default();
    b.compute_into(&columns_of(&[("A", &big), ("B", &big)]), &mut out).unwrap();
    let before: Vec<*const f64> = out.columns().iter().map(|c| c.as_ptr()).collect();
    let small_cols = columns_of(&[("C", &small), ("D", &small)]);
    b.compute_into(&small_cols, &mut out).unwrap();
    assert_matches(&out, &b.compute(&small_cols).unwrap(), 0.0, "no value of the earlier chunk survives");
    let after: Vec<*const f64> = out.columns().iter().map(|c| c.as_ptr()).collect();
    assert_eq!(before, after, "a smaller chunk reuses the same memory");
}

/// Each column as its bits (equal NaNs compare equal, and -0.0 differs from 0.0).
fn bits(ind: &Indicators) -> Vec<Vec<u64>> {
    ind.columns().iter().map(|c| c.iter().map(|x| x.to_bits()).collect()).collect()
}

/// Each column's (pointer, capacity): what reuse must leave alone.
fn memory(ind: &Indicators) -> Vec<(*const f64, usize)> {
    let caps = [
        ind.log_return.capacity(),
        ind.sma_20.capacity(),
        ind.ema_20.capacity(),
        ind.std_20.capacity(),
        ind.bb_upper_20.capacity(),
        ind.bb_lower_20.capacity(),
        ind.rsi_14.capacity(),
        ind.vwap.capacity(),
    ];
    ind.columns().iter().map(|c| c.as_ptr()).zip(caps).collect()
}

/// The trait's default `compute_all_into` (the CPU backend keeps it): every output equals
/// `compute` of its chunk bit for bit, whatever the output held before (a larger chunk's values,
/// nothing at all), and an output whose columns were already large enough keeps their memory.
/// `compute_all`, built on it, gives the same results.
#[test]
fn compute_all_into_writes_each_chunk_into_its_own_reused_output() {
    let b = CpuBackend::new();
    let big = series(4_000, 11, MONDAY_0930, 60.0);
    let (s1, s2, s3) = (
        series(1_500, 12, MONDAY_0930, 9.0),
        series(333, 13, MONDAY_0930, 410.0),
        series(2_100, 14, MONDAY_0930, 77.0),
    );
    let chunks = [
        columns_of(&[("A", &s1), ("B", &s2)]),
        columns_of(&[("C", &s3)]),
        columns_of(&[("D", &s2), ("E", &s3), ("F", &s1)]),
    ];
    let big_cols = columns_of(&[("X", &big), ("Y", &big)]);
    // Outputs 0 and 1 hold a larger chunk's values (8,000 rows); output 2 is empty.
    let mut out = vec![Indicators::default(); 3];
    for o in &mut out[..2] {
        b.compute_into(&big_cols, o).unwrap();
    }
    let before: Vec<_> = out[..2].iter().map(memory).collect();
    let refs: Vec<&BarColumns> = chunks.iter().collect();
    b.compute_all_into(&refs, &mut out).unwrap();
    for (k, (o, c)) in out.iter().zip(&chunks).enumerate() {
        assert_eq!(o.sma_20.len(), c.len(), "chunk {k}: one row per bar");
        assert_eq!(bits(o), bits(&b.compute(c).unwrap()), "chunk {k}: equal to compute, bit for bit");
    }
    let after: Vec<_> = out[..2].iter().map(memory).collect();
    assert_eq!(before, after, "outputs that were large enough keep their memory");

    let fresh = b.compute_all(&chunks).unwrap();
    assert_eq!(fresh.iter().map(bits).collect::<Vec<_>>(), out.iter().map(bits).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "one output per chunk")]
fn compute_all_into_wants_one_output_per_chunk() {
    let s = series(50, 1, MONDAY_0930, 10.0);
    let c = columns_of(&[("A", &s)]);
    let mut out = vec![Indicators::default(); 2];
    let _ = CpuBackend::new().compute_all_into(&[&c], &mut out);
}

/// A $600,000 share moving a cent at a time: returns of 1.7e-8, where `ln(c / prev)` of the
/// rounded ratio is off by up to 7e-9 of the return. The log returns and their std must still
/// be within 1e-9 of the exact values.
#[test]
fn one_cent_moves_of_a_very_expensive_share_keep_their_digits() {
    let (mut t, mut h, mut l, mut c, mut v, mut vw) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut cents: i64 = 61_234_567;
    for i in 0..500i64 {
        cents += [1, -1, 0, 1, 2, -1, -2, 1][i as usize % 8];
        let p = cents as f64 / 100.0;
        t.push(MONDAY_0930 + 60_000 * i);
        c.push(p);
        h.push(p + 0.5);
        l.push(p - 0.5);
        v.push(3.0);
        vw.push(Some(p));
    }
    let d: Series = (t, h, l, c, v, vw);
    let got = CpuBackend::new().compute(&columns_of(&[("BRK.A", &d)])).unwrap();
    assert_matches(&got, &reference(&d.0, &d.1, &d.2, &d.3, &d.4, &d.5), 1e-9, "one-cent moves");
}

/// The AVX2 build of the backend and the baseline build give the same bits (the same IEEE
/// operations in the same order, only in wider lanes; the sliding windows' four lanes in AVX
/// registers or lane by lane). On a CPU without AVX2 both runs take the
/// baseline, and the test says so.
#[test]
fn the_simd_build_and_the_baseline_give_the_same_bits() {
    let list: Vec<(String, Series)> = (0..6)
        .map(|k| (format!("S{k}"), series(3_000 + 997 * k, 7 + k as u64, MONDAY_0930, 20.0 + 300.0 * k as f64)))
        .collect();
    let refs: Vec<(&str, &Series)> = list.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut cols = columns_of(&refs);
    cols.c[4_000] *= 1.5; // a jump: the logarithm's slow path and a window recomputed exactly
    cols.c[7_000] = f64::NAN; // NaN in four lanes' sums: the largest sum's NaN rule must agree
    cols.c[9_000..9_060].fill(55.0); // flat: every lane restarts, in the middle of its block
    let b = CpuBackend::new();
    let wide = b.compute(&cols).unwrap();
    polygon_gpu::use_simd(false);
    let base = b.compute(&cols);
    polygon_gpu::use_simd(true);
    if !std::arch::is_x86_feature_detected!("avx2") {
        eprintln!("no AVX2 on this CPU: both runs took the baseline build");
    }
    assert_matches(&wide, &base.unwrap(), 0.0, "simd and baseline");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_series_match_the_reference(n in 0usize..400, seed in any::<u64>(), base in 0.5f64..5_000.0) {
        let d = series(n, seed, MONDAY_0930, base);
        let got = CpuBackend::new().compute(&columns_of(&[("R", &d)])).unwrap();
        assert_matches(&got, &reference(&d.0, &d.1, &d.2, &d.3, &d.4, &d.5), 1e-9, "random");
    }
}

/// pandas (the semantics users check against): rolling, ewm(adjust=False), Wilder's RSI, daily VWAP.
#[test]
fn pandas_agrees() {
    let d = series(2_000, 99, MONDAY_0930, 180.0);
    let dir = std::env::temp_dir().join(format!("pgh200-pandas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.csv");
    let mut csv = String::from("t,h,l,c,v,vw\n");
    for i in 0..d.0.len() {
        let vw = d.5[i].map(|x| format!("{x:?}")).unwrap_or_default();
        csv.push_str(&format!("{},{:?},{:?},{:?},{:?},{vw}\n", d.0[i], d.1[i], d.2[i], d.3[i], d.4[i]));
    }
    std::fs::write(&input, csv).unwrap();
    let output = dir.join("out.csv");
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pandas_indicators.py"))
        .arg(&input)
        .arg(&output)
        .status()
        .expect("python3 with pandas must be installed (.ci/run installs it)");
    assert!(status.success(), "the pandas script failed (pip install pandas)");
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, Indicators::NAMES);
    let got = CpuBackend::new().compute(&columns_of(&[("PD", &d)])).unwrap();
    for (i, line) in lines.enumerate() {
        for (k, field) in line.split(',').enumerate() {
            let want: f64 = if field.is_empty() { f64::NAN } else { field.parse().unwrap() };
            // pandas' rolling windows use running sums (compensated); they agree to 1e-8, the
            // two-pass reference above to 1e-9.
            assert!(
                close(got.columns()[k][i], want, 1e-8),
                "{} row {i}: ours {} pandas {want}",
                Indicators::NAMES[k],
                got.columns()[k][i]
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Columns cut by hand (they are public `Vec`s) are an error naming the problem, not a panic and
/// not a read past the rows: the offsets still point past the end.
#[test]
fn a_batch_cut_by_hand_is_an_error_not_a_panic() {
    let mut c = BarColumns::new();
    c.begin_series("AAPL".parse().unwrap());
    for i in 0..50 {
        let p = 100.0 + i as f64;
        c.push(&Bar {
            v: 1.0,
            vw: None,
            o: p,
            c: p,
            h: p,
            l: p,
            t: 1_704_205_800_000 + i * 60_000,
            n: None,
            otc: None,
        });
    }
    for col in [&mut c.o, &mut c.h, &mut c.l, &mut c.c, &mut c.v, &mut c.vw] {
        col.truncate(10);
    }
    c.t.truncate(10);
    c.n.truncate(10);
    let e = CpuBackend::new().compute(&c).unwrap_err();
    assert!(matches!(e, polygon_gpu::Error::BadBatch(_)), "{e}");
    assert!(e.to_string().contains("offsets must run from 0 to 10"), "{e}");
}
