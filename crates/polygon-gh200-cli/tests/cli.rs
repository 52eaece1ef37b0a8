//! The `polygon-gh200` command end to end: `fetch` against a simulator process into CSV and
//! Parquet (read back and compared with the simulator's generator), `indicators` over that output
//! (compared with the CPU backend), `demo`, Ctrl-C, `cache`, and every bad input exiting 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use polygon_gh200::gpu::{Backend, CpuBackend};
use polygon_gh200::model::{Bar, BarColumns, Date, Multiplier, Timespan};
use polygon_test_support::{Redis, SimProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_polygon-gh200");

/// `polygon-gh200 sim …` as a process of its own, killed on drop.
fn sim(args: &[&str]) -> SimProcess {
    let mut c = Command::new(BIN);
    c.arg("sim").args(args).stderr(Stdio::null());
    SimProcess::spawn(c, 1)
}

/// The CLI with a clean environment: no key, no config file, Redis wherever the test says.
fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("POLYGON_API_KEY")
        .env_remove("MASSIVE_API_KEY")
        .env_remove("POLYGON_GH200_CONFIG")
        .env_remove("RUST_LOG")
        // A Redis nobody listens on and no disk tier: these tests are about files, not the cache
        // (a test of the disk tier names its own CACHE_DIR), so none passes on an earlier one's data.
        .env("REDIS_URL", "redis://127.0.0.1:1/0")
        .env("CACHE_DISK", "off");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    out
}

fn expected(ticker: &str, timespan: Timespan, from: &str, to: &str) -> Vec<Bar> {
    expected_as(ticker, timespan, from, to, true)
}

fn expected_as(ticker: &str, timespan: Timespan, from: &str, to: &str, adjusted: bool) -> Vec<Bar> {
    let (from, to): (Date, Date) = (from.parse().unwrap(), to.parse().unwrap());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    polygon_sim::expected_aggregates_as(ticker, Multiplier::ONE, timespan, from.into(), to.into(), now, adjusted)
}

/// One parsed CSV row of bars.
type Row = (String, i64, [f64; 5], Option<f64>, Option<u64>);

fn read_csv(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ticker,t,o,h,l,c,v,vw,n"), "the header, exactly");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            let x = |i: usize| f[i].parse::<f64>().unwrap();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                [x(2), x(3), x(4), x(5), x(6)],
                (!f[7].is_empty()).then(|| x(7)),
                (!f[8].is_empty()).then(|| f[8].parse().unwrap()),
            )
        })
        .collect()
}

/// Reads a Parquet file with the parquet crate's row API (not the CLI's column reader).
fn read_parquet(path: &Path) -> Vec<Row> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let fields: Vec<String> =
        r.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(fields.join(","), "ticker,t,o,h,l,c,v,vw,n");
    r.get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let cols: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            let f = |i: usize| match cols[i] {
                Field::Double(x) => Some(*x),
                Field::Null => None,
                other => panic!("column {i}: {other:?}"),
            };
            let t = match cols[1] {
                Field::TimestampMillis(t) => *t,
                other => panic!("t is a UTC millisecond timestamp, not {other:?}"),
            };
            let ticker = match cols[0] {
                Field::Str(s) => s.clone(),
                other => panic!("{other:?}"),
            };
            let n = match cols[8] {
                Field::Long(n) => Some(*n as u64),
                Field::Null => None,
                other => panic!("{other:?}"),
            };
            (ticker, t, [f(2).unwrap(), f(3).unwrap(), f(4).unwrap(), f(5).unwrap(), f(6).unwrap()], f(7), n)
        })
        .collect()
}

fn rows_of(ticker: &str, bars: &[Bar]) -> Vec<Row> {
    bars.iter().map(|b| (ticker.to_owned(), b.t, [b.o, b.h, b.l, b.c, b.v], b.vw, b.n)).collect()
}

#[test]
fn fetch_writes_csv_and_parquet_equal_to_the_generator_and_names_a_failed_ticker() {
    let sim = sim(&["--fail-tickers", "FAIL"]);
    let dir = TempDir::new("fetch");
    let (from, to) = ("2024-03-01", "2024-04-15"); // two calendar months: several chunks per ticker
    let want: Vec<Row> =
        ["AAPL", "MSFT", "BRK.B"].iter().flat_map(|t| rows_of(t, &expected(t, Timespan::Minute, from, to))).collect();
    assert!(want.len() > 30_000, "a real range: {} bars", want.len());
    for out in ["bars.csv", "bars.parquet"] {
        let path = dir.join(out);
        let o = cli(
            &[
                "fetch",
                "--tickers",
                "AAPL,MSFT,FAIL,BRK.B,AAPL",
                "--from",
                from,
                "--to",
                to,
                "--out",
                path.to_str().unwrap(),
                "--base-url",
                sim.url(),
            ],
            &[("POLYGON_API_KEY", "k"), ("BATCH_SIZE", "2")],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "a failed ticker makes exit 1: {err}");
        let failed: Vec<&str> = err.lines().filter(|l| l.starts_with("failed: ")).collect();
        assert_eq!(failed.len(), 1, "{err}");
        assert!(failed[0].starts_with("failed: FAIL: ") && failed[0].contains("500"), "{}", failed[0]);
        assert!(o.stdout.is_empty(), "nothing on stdout when writing a file");
        let got = if out.ends_with(".csv") {
            read_csv(&std::fs::read_to_string(&path).unwrap())
        } else {
            read_parquet(&path)
        };
        assert_eq!(got.len(), want.len(), "{out}");
        assert!(got == want, "{out}: every bar equal to the generator's, tickers in order, AAPL once");
        assert!(!dir.join(format!("{out}.partial")).exists());
    }

    // Without --out: CSV on stdout, and nothing else there.
    let o = cli(
        &["fetch", "--tickers", "MSFT", "--from", "2024-03-04", "--to", "2024-03-04", "--timespan", "hour"],
        &[("POLYGON_API_KEY", "k"), ("POLYGON_BASE_URL", sim.url())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let got = read_csv(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(got, rows_of("MSFT", &expected("MSFT", Timespan::Hour, "2024-03-04", "2024-03-04")));
    assert_eq!(got.len(), 16, "04:00 to 20:00 New York, hourly");

    // Indicators over both files: equal to the CPU backend over the generator's bars.
    let mut cols = BarColumns::new();
    for t in ["AAPL", "MSFT", "BRK.B"] {
        cols.begin_series(t.parse().unwrap());
        for b in expected(t, Timespan::Minute, from, to) {
            cols.push(&b);
        }
    }
    let ind = CpuBackend::new().compute(&cols).unwrap();
    for (input, output) in [("bars.csv", "ind.csv"), ("bars.parquet", "ind.csv"), ("bars.csv", "ind.parquet")] {
        let o = cli(
            &[
                "indicators",
                "--in",
                dir.join(input).to_str().unwrap(),
                "--out",
                dir.join(output).to_str().unwrap(),
                "--backend",
                "cpu",
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        if output.ends_with(".csv") {
            let text = std::fs::read_to_string(dir.join(output)).unwrap();
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some("ticker,t,log_return,sma_20,ema_20,std_20,bb_upper_20,bb_lower_20,rsi_14,vwap")
            );
            let mut n = 0;
            for (i, line) in lines.enumerate() {
                let f: Vec<&str> = line.split(',').collect();
                assert_eq!(f[1].parse::<i64>().unwrap(), cols.t[i]);
                for (k, col) in ind.columns().iter().enumerate() {
                    let want = col[i];
                    let got = if f[2 + k].is_empty() { f64::NAN } else { f[2 + k].parse().unwrap() };
                    assert!(got == want || (got.is_nan() && want.is_nan()), "row {i} col {k}: {got} vs {want}");
                }
                n += 1;
            }
            assert_eq!(n, cols.len());
        } else {
            use parquet::file::reader::{FileReader, SerializedFileReader};
            let r = SerializedFileReader::new(std::fs::File::open(dir.join(output)).unwrap()).unwrap();
            assert_eq!(r.metadata().file_metadata().num_rows() as usize, cols.len());
        }
    }
}

/// `--shard K/N`: N workers given the same list split it without talking; the union of their
/// files is exactly the unsharded file, and no ticker is in two.
#[test]
fn shards_split_the_tickers_disjointly_and_their_union_is_the_whole() {
    let sim = sim(&[]);
    let list = "AAPL,MSFT,GOOGL,AMZN,TSLA,BRK.B,NVDA,META,JPM,V";
    let run = |shard: Option<&str>| -> Vec<Row> {
        let mut args =
            vec!["fetch", "--tickers", list, "--from", "2024-03-04", "--to", "2024-03-05", "--base-url", sim.url()];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = cli(&args, &[("POLYGON_API_KEY", "k")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_csv(&String::from_utf8_lossy(&o.stdout))
    };
    let whole = run(None);
    let mut seen = std::collections::BTreeMap::new();
    let mut union = Vec::new();
    for k in 0..3 {
        let part = run(Some(&format!("{k}/3")));
        for t in part.iter().map(|r| r.0.clone()).collect::<std::collections::BTreeSet<_>>() {
            assert!(seen.insert(t.clone(), k).is_none(), "{t} is in two shards");
        }
        union.extend(part);
    }
    assert_eq!(seen.len(), 10, "every ticker in some shard: {seen:?}");
    assert!(seen.values().collect::<std::collections::BTreeSet<_>>().len() > 1, "the split is a split: {seen:?}");
    let key = |r: &Row| (r.0.clone(), r.1);
    let (mut whole, mut union) = (whole, union);
    whole.sort_by_key(key);
    union.sort_by_key(key);
    assert_eq!(union, whole);
}

/// `--adjusted false`: bars as traded. NVDA split 10 for 1 on 2024-06-10 (in the simulator as
/// in the market): before it the prices differ by that factor, after it nothing does.
#[test]
fn adjusted_false_fetches_the_bars_as_traded() {
    let sim = sim(&[]);
    let (from, to) = ("2024-06-03", "2024-06-14");
    let run = |adjusted: &str| -> Vec<Row> {
        let args = [
            "fetch",
            "--tickers",
            "NVDA",
            "--from",
            from,
            "--to",
            to,
            "--timespan",
            "day",
            "--adjusted",
            adjusted,
            "--base-url",
            sim.url(),
        ];
        let o = cli(&args, &[("POLYGON_API_KEY", "k")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_csv(&String::from_utf8_lossy(&o.stdout))
    };
    let (raw, adj) = (run("false"), run("true"));
    assert_eq!(raw, rows_of("NVDA", &expected_as("NVDA", Timespan::Day, from, to, false)));
    assert_eq!(adj, rows_of("NVDA", &expected("NVDA", Timespan::Day, from, to)));
    assert_eq!(raw.len(), 10);
    for (r, a) in raw.iter().zip(&adj) {
        let split = r.1 >= Date::from_ymd(2024, 6, 10).unwrap().ny_unix_ms(0);
        let close = if split { a.2[3] } else { a.2[3] * 10.0 };
        assert!((r.2[3] - close).abs() < 1e-9 * close, "{r:?} against {a:?}");
    }
    let o = cli(&["fetch", "--tickers", "NVDA", "--from", from, "--to", to, "--adjusted", "maybe"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--adjusted"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn ctrl_c_leaves_a_complete_parquet_of_the_tickers_it_finished() {
    let sim = sim(&["--latency-ms", "40"]);
    let dir = TempDir::new("ctrlc");
    let path = dir.join("bars.parquet");
    let tickers: Vec<String> =
        polygon_sim::market::Universe::get().profiles().iter().take(400).map(|p| p.ticker.clone()).collect();
    let mut child = Command::new(BIN)
        .args(["fetch", "--tickers", &tickers.join(","), "--from", "2024-03-04", "--to", "2024-03-08"])
        .args(["--out", path.to_str().unwrap(), "--base-url", sim.url()])
        .env("POLYGON_API_KEY", "k")
        .env("BATCH_SIZE", "10")
        .env("MAX_WORKERS", "2")
        .env("REDIS_URL", "redis://127.0.0.1:1/0")
        .env("CACHE_DISK", "off")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some chunks are written (the .partial file grows), then interrupt.
    let partial = dir.join("bars.parquet.partial");
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 200_000 {
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let rows = read_parquet(&path);
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).fold(Vec::new(), |mut v, t| {
        if v.last() != Some(&t) {
            v.push(t);
        }
        v
    });
    assert!(!names.is_empty() && names.len() < tickers.len(), "some, not all: {}", names.len());
    assert_eq!(names[..], tickers[..names.len()], "whole chunks in order");
    let want: Vec<Row> =
        names.iter().flat_map(|t| rows_of(t, &expected(t, Timespan::Minute, "2024-03-04", "2024-03-08"))).collect();
    assert!(rows == want, "every ticker in the file is complete");
}

#[test]
fn demo_runs_to_its_summary() {
    let dir = TempDir::new("demo");
    let out_dir = dir.path().to_str().unwrap();
    let o = cli(&["demo", "--tickers", "6", "--from", "2024-10-01", "--to", "2024-10-04", "--out-dir", out_dir], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("memory, no Redis answered at"), "{out}");
    let field = |name: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {out}"));
        line[name.len()..].split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(field("tickers")[0], "6");
    assert_eq!(field("API requests"), ["6", "0"], "warm run is all cache");
    assert!(field("bars")[0].parse::<usize>().unwrap() > 1000);
    assert_eq!(field("backend")[0], "cpu");
    let rows = read_parquet(&dir.join("bars.parquet"));
    assert_eq!(rows.len(), field("bars")[0].parse::<usize>().unwrap());
    assert!(dir.join("indicators.parquet").is_file());
}

#[test]
fn bad_arguments_and_configuration_exit_2_naming_the_problem() {
    let dir = TempDir::new("bad");
    let tickers_file = dir.join("tickers.txt");
    std::fs::write(&tickers_file, "AAPL\n# comment\nMSFT, BAD TICKER\n").unwrap();
    let missing = dir.join("missing.txt");
    let tf = tickers_file.to_str().unwrap();
    let ms = missing.to_str().unwrap();
    let key = [("POLYGON_API_KEY", "k")];
    let long = "A".repeat(300);
    fn fetch<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["fetch", "--base-url", "http://127.0.0.1:9"];
        v.extend_from_slice(extra);
        v
    }
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (fetch(&["--tickers", "AAPL", "--from", "2024-02-01", "--to", "2024-01-01"]), key.to_vec(), "after --to"),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--shard", "3/3"]),
            key.to_vec(),
            "--shard",
        ),
        (fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-13-01"]), key.to_vec(), "--to"),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--timespan", "fortnight"]),
            key.to_vec(),
            "--timespan",
        ),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--multiplier", "0"]),
            key.to_vec(),
            "--multiplier",
        ),
        (fetch(&["--tickers", "../x", "--from", "2024-01-01", "--to", "2024-01-02"]), key.to_vec(), "\"../x\""),
        (
            fetch(&["--tickers", "AAPL,,MSFT", "--from", "2024-01-01", "--to", "2024-01-02"]),
            key.to_vec(),
            "ticker \"\"",
        ),
        (fetch(&["--tickers", &long, "--from", "2024-01-01", "--to", "2024-01-02"]), key.to_vec(), "AAAAAAAA"),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--multiplier=-1"]),
            key.to_vec(),
            "--multiplier",
        ),
        (fetch(&["--tickers", "AAPL", "--from", "1800-01-01", "--to", "2024-01-02"]), key.to_vec(), "--from"),
        (fetch(&["--tickers", "A/B", "--from", "2024-01-01", "--to", "2024-01-02"]), key.to_vec(), "\"A/B\""),
        (fetch(&["--tickers-file", ms, "--from", "2024-01-01", "--to", "2024-01-02"]), key.to_vec(), "missing.txt"),
        (fetch(&["--tickers-file", tf, "--from", "2024-01-01", "--to", "2024-01-02"]), key.to_vec(), "BAD TICKER"),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--out", "x.xlsx"]),
            key.to_vec(),
            ".csv or .parquet",
        ),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02"]),
            vec![("POLYGON_API_KEY", "k"), ("MAX_WORKERS", "lots")],
            "MAX_WORKERS",
        ),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02"]),
            vec![("POLYGON_API_KEY", "k"), ("POLYGON_RATE_LIMIT", "5/fortnight")],
            "POLYGON_RATE_LIMIT",
        ),
        (vec!["fetch", "--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02"], vec![], "POLYGON_API_KEY"),
        // Flags are one more layer of the configuration: validated as the variables they set are.
        (
            vec!["fetch", "--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--base-url", "ftp://x"],
            key.to_vec(),
            "--base-url \"ftp://x\": expected http(s)://host[:port][/prefix] (it sets POLYGON_BASE_URL)",
        ),
        (
            vec![
                "fetch",
                "--tickers",
                "AAPL",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--base-url",
                "http://h/?q",
            ],
            key.to_vec(),
            "--base-url",
        ),
        (
            fetch(&["--tickers", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--max-workers", "0"]),
            key.to_vec(),
            "--max-workers \"0\": expected a whole number, 1 or more (it sets MAX_WORKERS)",
        ),
        (vec!["indicators", "--in", ms, "--out", "x.csv"], vec![], "missing.txt"),
        (vec!["indicators", "--in", tf, "--out", "x.csv"], vec![], "tickers.txt"),
        (vec!["indicators", "--in", tf, "--out", "x.csv", "--backend", "gpu"], vec![], "--backend"),
        (vec!["demo", "--tickers", "0"], vec![], "--tickers"),
        (vec!["--config", ms, "cache", "stats"], vec![], "missing.txt"),
    ];
    for (args, env, says) in cases {
        let o = cli(&args, &env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(says), "{args:?}: {says:?} not in {err}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    // A key never shows, even in a configuration error.
    let o = cli(&["fetch", "--tickers", "AAPL", "--from", "x", "--to", "y"], &[("POLYGON_API_KEY", "sekrit-key-123")]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("sekrit"));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn asking_for_cuda_in_a_build_without_it_is_a_clear_error() {
    let dir = TempDir::new("cuda");
    let input = dir.join("bars.csv");
    std::fs::write(&input, "ticker,t,o,h,l,c,v,vw,n\nAAPL,1704205800000,1,1,1,1,1,,\n").unwrap();
    let out = dir.join("ind.csv");
    let o =
        cli(&["indicators", "--in", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cuda"], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--features cuda"), "{err}");
    assert!(!out.exists(), "no output file on failure");
}

#[test]
fn demo_uses_redis_when_it_answers_and_cache_stats_and_clear_see_its_keys() {
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}/0", redis.port());
    let dir = TempDir::new("demo-redis");
    let env = [("REDIS_URL", url.as_str())];
    let demo = || {
        let args = ["demo", "--tickers", "4", "--from", "2024-10-01", "--to", "2024-10-02", "--out-dir"];
        let mut args = args.to_vec();
        args.push(dir.path().to_str().unwrap());
        cli(&args, &env)
    };
    let o = demo();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(&format!("Redis at {url}")), "{out}");
    assert!(out.contains("4 Redis"), "the warm run is served by Redis: {out}");
    let stats = |env: &[(&str, &str)]| {
        let o = cli(&["cache", "stats"], env);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.starts_with("tier\tnamespace\tentries\tbytes\twhere\n"), "{text}");
        let redis: Vec<Vec<&str>> =
            text.lines().filter(|l| l.starts_with("redis\t")).map(|l| l.split('\t').collect()).collect();
        assert!(redis.iter().all(|r| r[1].starts_with("demo.up-")), "the demo's simulator has its own scope: {text}");
        redis.iter().map(|r| r[2].parse::<u64>().unwrap()).sum::<u64>()
    };
    assert_eq!(stats(&env), 4, "one month chunk per ticker, under pgh200:demo:");
    // A second demo starts cold again: it clears its own namespace first.
    let o = demo();
    assert!(String::from_utf8_lossy(&o.stdout).contains("API requests                         4            0"));
    let o = cli(&["cache", "clear"], &env);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "removed\t0", "the default namespace holds none of them");
    assert_eq!(stats(&env), 4, "the demo's namespace is left alone");
    let o = cli(&["cache", "clear", "--namespace", "demo"], &env);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "removed\t4");
    assert_eq!(stats(&env), 0);
    // No Redis at the address: a clear failure, exit 1.
    let o = cli(&["cache", "stats"], &[("REDIS_URL", "redis://127.0.0.1:1/0")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not answering"));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn without_redis_a_second_run_is_served_from_disk_and_cache_clear_empties_it() {
    let sim = sim(&[]);
    let dir = TempDir::new("disk");
    let cache_dir = dir.join("cache");
    let env = [
        ("POLYGON_API_KEY", "k"),
        ("REDIS_URL", "off"),
        ("CACHE_DISK", "on"),
        ("CACHE_DIR", cache_dir.to_str().unwrap()),
    ];
    let fetch = |name: &str| {
        let out = dir.join(name);
        let o = cli(
            &[
                "fetch",
                "--tickers",
                "AAPL,MSFT,NVDA",
                "--from",
                "2024-03-04",
                "--to",
                "2024-03-08",
                "--base-url",
                sim.url(),
            ]
            .iter()
            .copied()
            .chain(["--out", out.to_str().unwrap()])
            .collect::<Vec<_>>(),
            &env,
        );
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{err}");
        (std::fs::read(out).unwrap(), err)
    };
    let (first, err) = fetch("1.csv");
    assert!(err.contains("3 requests"), "{err}");
    // A second process: no Redis, nothing in memory, and yet no request.
    let (second, err) = fetch("2.csv");
    assert!(err.contains("0 requests") && err.contains("3 chunks from cache"), "{err}");
    assert!(first == second && first.len() > 10_000, "identical output from the disk");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions()) & 0o777;
    assert_eq!(mode(&cache_dir), 0o700);
    assert!(files_under(&cache_dir).iter().all(|f| mode(f) == 0o600));

    let stats = || {
        let o = cli(&["cache", "stats"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let text = stats();
    let disk: Vec<Vec<&str>> =
        text.lines().filter(|l| l.starts_with("disk\t")).map(|l| l.split('\t').collect()).collect();
    assert_eq!(disk.len(), 1, "{text}");
    assert!(disk[0][1].starts_with("default.up-"), "a simulator's bars are kept apart from the real API's: {text}");
    assert_eq!(disk[0][2], "3", "{text}");
    assert_eq!(disk[0][4], cache_dir.to_str().unwrap());
    let o = cli(&["cache", "clear", "--tier", "disk"], &env);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "removed\t3");
    assert!(!stats().contains("disk\t"), "the disk tier is empty");
    let (_, err) = fetch("3.csv");
    assert!(err.contains("3 requests"), "after the clear the API is asked again: {err}");
    let o = cli(&["cache", "clear", "--tier", "redis"], &env);
    assert_eq!(o.status.code(), Some(2), "no Redis tier to clear when REDIS_URL is off");
}

/// Every key and value in a Redis, as raw bytes (KEYS, then DUMP of each).
fn redis_dump(port: u16) -> Vec<u8> {
    let cli = |args: &[&str]| {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--no-raw"])
            .args(args)
            .output()
            .expect("redis-cli")
            .stdout
    };
    let keys = String::from_utf8_lossy(&cli(&["--raw", "KEYS", "*"])).into_owned();
    let mut all = keys.clone().into_bytes();
    for k in keys.lines().filter(|k| !k.is_empty()) {
        all.extend(cli(&["--raw", "GET", k]));
    }
    all
}

#[test]
fn no_key_ever_appears_in_output_logs_errors_files_or_redis() {
    const RIGHT: &str = "rightKEY-8d2e71c0";
    const WRONG: &str = "wrongKEY-5f3a9c44";
    let sim = sim(&["--api-key", RIGHT]);
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}/0", redis.port());
    let dir = TempDir::new("secrets");
    let mut seen: Vec<u8> = Vec::new();
    let mut traced = false;
    for (key, format, log, code) in [
        (WRONG, "csv", "text", 1),
        (WRONG, "parquet", "json", 1),
        (RIGHT, "csv", "text", 0),
        (RIGHT, "parquet", "json", 0),
    ] {
        let out = dir.join(format!("bars-{key}.{format}"));
        let o = cli(
            &["--log-format", log, "fetch", "--tickers", "AAPL,MSFT", "--from", "2024-03-04", "--to", "2024-03-05"]
                .iter()
                .copied()
                .chain(["--out", out.to_str().unwrap(), "--base-url", sim.url()])
                .collect::<Vec<_>>(),
            &[
                ("POLYGON_API_KEY", key),
                ("RUST_LOG", "trace"),
                ("REDIS_URL", &url),
                ("CACHE_DISK", "on"),
                ("CACHE_DIR", dir.join("cache").to_str().unwrap()),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        if code == 1 {
            assert!(err.contains("401"), "the wrong key is refused: {err}");
        }
        traced |= err.contains("TRACE");
        seen.extend(o.stdout);
        seen.extend(o.stderr);
        if let Ok(bytes) = std::fs::read(&out) {
            seen.extend(bytes);
        }
    }
    assert!(traced, "trace-level logs were written");
    let stored = redis_dump(redis.port());
    assert!(stored.len() > 1000, "the right key's run cached its bars in Redis");
    seen.extend(stored);
    let on_disk = files_under(&dir.join("cache"));
    assert!(on_disk.iter().any(|f| f.extension().is_some_and(|e| e == "pgc")), "the run cached its bars on disk");
    for f in on_disk {
        seen.extend(f.to_string_lossy().as_bytes());
        seen.extend(std::fs::read(f).unwrap());
    }
    for key in [RIGHT, WRONG] {
        let found = seen.windows(key.len()).any(|w| w == key.as_bytes());
        assert!(!found, "{key} leaked into stdout, stderr, logs, a file, a disk cache file or its name, or Redis");
    }
}

/// The simulator's flat-file store for `cli`'s environment, with `secret`.
fn s3_env<'a>(sim: &'a SimProcess, secret: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("POLYGON_S3_ACCESS_KEY_ID", polygon_sim::s3::DEFAULT_ACCESS_KEY_ID),
        ("POLYGON_S3_SECRET_ACCESS_KEY", secret),
        ("POLYGON_S3_ENDPOINT", sim.url()),
        ("POLYGON_API_KEY", "k"),
    ]
}

#[test]
fn rest_and_flatfiles_write_the_same_csv_but_vwap_and_plan_says_what_each_costs() {
    let dir = TempDir::new("sources");
    let log = dir.join("requests.log");
    let sim = sim(&["--universe", "40", "--request-log", log.to_str().unwrap()]);
    let logged = || std::fs::read_to_string(&log).map_or(0, |s| s.lines().count());
    let (from, to) = ("2024-06-03", "2024-06-28"); // NVDA split 10-for-1 on 2024-06-10
    let env = s3_env(&sim, polygon_sim::s3::DEFAULT_SECRET);
    let fetch = |source: &str, adjusted: &str| -> (Vec<Row>, String) {
        let args = [
            "fetch",
            "--tickers",
            "AAPL,NVDA,MSFT",
            "--from",
            from,
            "--to",
            to,
            "--adjusted",
            adjusted,
            "--source",
            source,
            "--base-url",
            sim.url(),
        ];
        let mut env = env.to_vec();
        env.push(("RUST_LOG", "polygon_fetch=info"));
        let o = cli(&args, &env);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{source}: {err}");
        (read_csv(&String::from_utf8_lossy(&o.stdout)), err)
    };
    for adjusted in ["true", "false"] {
        let (rest, rest_log) = fetch("rest", adjusted);
        let (files, files_log) = fetch("flatfiles", adjusted);
        let want: Vec<Row> = ["AAPL", "NVDA", "MSFT"]
            .iter()
            .flat_map(|t| rows_of(t, &expected_as(t, Timespan::Minute, from, to, adjusted == "true")))
            .collect();
        assert_eq!(rest, want, "adjusted {adjusted}: REST as the generator");
        assert_eq!(files.len(), rest.len(), "adjusted {adjusted}");
        for (f, r) in files.iter().zip(&rest) {
            assert_eq!((&f.0, f.1, f.2, f.4), (&r.0, r.1, r.2, r.4), "adjusted {adjusted}: every field both carry");
            assert!(f.3.is_none() && r.3.is_some(), "files carry no VWAP: the CSV field is empty, never invented");
        }
        // From files, the only request is the splits' (to adjust), and only when adjusting.
        let requests = if adjusted == "true" { " 1 requests," } else { " 0 requests," };
        assert!(rest_log.contains(" 0 flat files,") && files_log.contains(requests), "{rest_log}\n{files_log}");
        let novw = format!("{} bars without VWAP", files.len());
        assert!(files_log.contains(&novw) && !rest_log.contains("without VWAP ("), "{files_log}");
        assert!(files_log.contains("19 flat files"), "{files_log}");
        assert!(
            files_log.contains("plan: ") && files_log.contains("from flat files (19 files"),
            "logged at INFO: {files_log}"
        );
    }

    let plan = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["plan", "--tickers", "AAPL,NVDA,MSFT", "--from", from, "--to", to, "--base-url", sim.url()];
        args.extend_from_slice(extra);
        cli(&args, env)
    };
    let slow: Vec<(&str, &str)> = env.iter().copied().chain([("POLYGON_RATE_LIMIT", "1/s")]).collect();
    let before = logged();
    let o = plan(&["--format", "json"], &slow);
    assert_eq!(logged() - before, 1, "a plan lists June's files once and asks for no bar");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (p["asked"].as_str(), p["tickers"].as_u64(), p["chunk_unit"].as_str()),
        (Some("auto"), Some(3), Some("month"))
    );
    assert_eq!(p["units"][0]["source"], "flatfiles", "three requests at 1/s cost more than 19 small files: {p}");
    assert_eq!((p["all_rest"]["requests"].as_u64(), p["chosen"]["files"].as_u64()), (Some(3), Some(19)));
    assert!(p["chosen"]["bars_without_vwap"].as_u64().unwrap() > 0, "{p}");
    let o = plan(&[], &env);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("unit\tsource\tchunks\trequests\tfiles\tbytes\tseconds\tbars_without_vwap\tchosen\twhy"),
        "{text}"
    );
    assert!(
        text.contains("2024-06-01..2024-06-30\trest\t3\t3\t0\t")
            && text.contains("2024-06-01..2024-06-30\tflatfiles\t3\t0\t19\t"),
        "{text}"
    );
    assert!(text.contains("REST") && text.contains("summary: 3 chunks of 3 tickers: 0 cached"), "{text}");
    let before = logged();
    let o = plan(&["--require-vwap"], &env);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("flat files: VWAP is required") && !text.contains("\tflatfiles\t"), "{text}");
    assert_eq!(logged(), before, "files that cannot serve are not even listed");
}

#[test]
fn flatfiles_refused_is_exit_1_naming_the_credentials_auto_falls_back_and_no_secret_shows_at_trace() {
    let sim = sim(&["--universe", "40"]);
    let secret = "wrong+Secret/abc123";
    let env: Vec<(&str, &str)> = s3_env(&sim, secret).into_iter().chain([("RUST_LOG", "trace")]).collect();
    let args = |source: &'static str, cmd: &'static str| {
        vec![
            cmd,
            "--tickers",
            "AAPL,MSFT",
            "--from",
            "2024-06-03",
            "--to",
            "2024-06-07",
            "--source",
            source,
            "--base-url",
            sim.url(),
        ]
    };
    let o = cli(&args("flatfiles", "fetch"), &env);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("failed: AAPL: ") && err.contains("failed: MSFT: "), "every ticker named: {err}");
    assert!(err.contains("POLYGON_S3_SECRET_ACCESS_KEY"), "the credentials named: {err}");
    assert!(err.contains("0 of 2 tickers fetched") && err.contains(" 0 requests,"), "no silent switch to REST: {err}");
    assert_eq!(out.lines().count(), 1, "the header only: {out}");
    let o = cli(&args("flatfiles", "plan"), &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("POLYGON_S3_SECRET_ACCESS_KEY"));
    let o = cli(&args("auto", "fetch"), &env);
    let (out2, err2) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err2}");
    assert!(err2.contains("flat files refused: fetching from REST instead"), "the warning says so: {err2}");
    assert_eq!(read_csv(&out2).len(), read_csv(&out2).iter().filter(|r| r.3.is_some()).count(), "REST bars, with VWAP");
    assert!(read_csv(&out2).len() > 1_000);
    for text in [&out, &err, &out2, &err2] {
        for leak in [secret, "wrong+Secret", "wrong%2BSecret"] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
        for signed in ["X-Amz-Signature=", "Signature="] {
            assert!(
                text.matches(signed).count() == text.matches(&format!("{signed}<redacted>")).count(),
                "{signed} shown: {text}"
            );
        }
    }
    // A good secret at TRACE: downloads logged, the secret and signatures in none of it.
    let good = polygon_sim::s3::DEFAULT_SECRET;
    let env: Vec<(&str, &str)> = s3_env(&sim, good).into_iter().chain([("RUST_LOG", "trace")]).collect();
    let o = cli(&args("flatfiles", "fetch"), &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("minute_aggs_v1/2024/06/2024-06-03.csv.gz"), "TRACE names the files: {err}");
    assert!(!err.contains(good) && !String::from_utf8_lossy(&o.stdout).contains(good), "the secret at TRACE");
    let o = cli(&["fetch", "--tickers", "AAPL", "--from", "2024-06-03", "--to", "2024-06-07", "--source", "s3"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--source: \"s3\" is not a source"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
