//! The flat-file store and the splits endpoints, over real sockets.
//!
//! The S3 side is checked with boto3 (an S3 client that is not ours: ListObjectsV2 with paging and
//! delimiters, GET, HEAD, SigV4 in the header and presigned), which `.ci/run` installs from
//! xtask/requirements.txt; without it the test fails and says so. The content is checked against
//! the simulator's own REST bars: a day file holds exactly the `adjusted=false` minute (or day)
//! bars of that session of every listed ticker.

mod common;

use std::io::Read as _;
use std::process::Command;

use polygon_model::{Date, Multiplier, TimeBound, Timespan};
use polygon_sim::s3::{self, FlatFileFault};

/// 2024-07-12 12:00 New York: July 11's files are out (11:00 today), July 12's are not.
const NOW: i64 = 1_720_800_000_000;
const UNIVERSE: usize = 40;

async fn sim() -> polygon_sim::SimHandle {
    polygon_sim::Simulator::builder()
        .now_ms(NOW)
        .universe(UNIVERSE)
        .flat_file_fault(s3::key_of(s3::MINUTE_PREFIX, "2024-07-09".parse().unwrap()), FlatFileFault::BadCsvField)
        .build()
        .spawn()
        .await
        .unwrap()
}

fn listing() -> polygon_sim::market::Listing {
    polygon_sim::market::Listing::bounded(UNIVERSE)
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b).read_to_string(&mut s).expect("a whole gzip stream");
    s
}

/// The CSV rows of `ticker`'s as-traded bars of `date` at `span`, from the REST generator.
fn rest_rows(ticker: &str, span: Timespan, date: &str) -> Vec<String> {
    let d = TimeBound::Date(date.parse::<Date>().unwrap());
    polygon_sim::expected_aggregates_as(ticker, Multiplier::ONE, span, d, d, NOW, false)
        .iter()
        .map(|b| {
            format!(
                "{ticker},{},{},{},{},{},{},{}",
                b.v,
                b.o,
                b.c,
                b.h,
                b.l,
                i128::from(b.t) * 1_000_000,
                b.n.expect("the simulator counts trades")
            )
        })
        .collect()
}

#[test]
fn day_files_hold_exactly_the_rest_bars_as_traded() {
    let l = listing();
    assert_eq!(l.len(), UNIVERSE);
    assert!(l.profile("AAPL").is_some() && l.profile("MSFT").is_some(), "the large caps come first");
    for (span, prefix_rows) in [(Timespan::Minute, 1000), (Timespan::Day, UNIVERSE)] {
        let date: Date = "2024-07-03".parse().unwrap(); // an early close
        let text = gunzip(&s3::render_day_file(&l, span, date, NOW, None));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(s3::CSV_HEADER));
        let got: Vec<&str> = lines.collect();
        let want: Vec<String> = l.profiles().flat_map(|p| rest_rows(&p.ticker, span, "2024-07-03")).collect();
        assert!(want.len() >= prefix_rows, "{span}: {} rows", want.len());
        assert_eq!(got, want, "{span}");
    }
    // A ticker that split: the file is as traded (prices x 4 before AAPL's 2020 split), REST's
    // adjusted bars are not.
    let date: Date = "2020-08-28".parse().unwrap();
    let text = gunzip(&s3::render_day_file(&l, Timespan::Day, date, NOW, None));
    let aapl = text.lines().find(|r| r.starts_with("AAPL,")).expect("AAPL traded");
    assert_eq!(aapl, rest_rows("AAPL", Timespan::Day, "2020-08-28")[0]);
    let d = TimeBound::Date(date);
    let adj = &polygon_sim::expected_aggregates_as("AAPL", Multiplier::ONE, Timespan::Day, d, d, NOW, true)[0];
    let raw = &polygon_sim::expected_aggregates_as("AAPL", Multiplier::ONE, Timespan::Day, d, d, NOW, false)[0];
    assert_eq!(raw.c, adj.c * 4.0);
    assert_eq!(raw.v * 4.0, adj.v);
}

const BOTO: &str = r#"
import boto3, botocore, json, sys, urllib.request, urllib.error
url, key_id, secret, out_path = sys.argv[1:5]
cfg = botocore.config.Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1})
def client(k, s):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=k, aws_secret_access_key=s, region_name="us-east-1", config=cfg)
s3 = client(key_id, secret)
out = {}
july = s3.list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/minute_aggs_v1/2024/07/")
out["july"] = [[o["Key"], o["Size"], o["ETag"]] for o in july.get("Contents", [])]
top = s3.list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/", Delimiter="/")
out["prefixes"] = [p["Prefix"] for p in top.get("CommonPrefixes", [])]
months = s3.list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/day_aggs_v1/2024/", Delimiter="/")
out["months"] = [p["Prefix"] for p in months.get("CommonPrefixes", [])]
pages = s3.get_paginator("list_objects_v2").paginate(
    Bucket="flatfiles", Prefix="us_stocks_sip/day_aggs_v1/2024/0", PaginationConfig={"PageSize": 7})
out["paged"] = [o["Key"] for p in pages for o in p.get("Contents", [])]
key = "us_stocks_sip/minute_aggs_v1/2024/07/2024-07-01.csv.gz"
obj = s3.get_object(Bucket="flatfiles", Key=key)
open(out_path, "wb").write(obj["Body"].read())
out["get"] = [obj["ETag"], obj["ContentLength"], obj["LastModified"].isoformat()]
part = s3.get_object(Bucket="flatfiles", Key=key, Range="bytes=10-19")
out["range"] = [part["ContentRange"], list(part["Body"].read())]
head = s3.head_object(Bucket="flatfiles", Key=key)
out["head"] = [head["ETag"], head["ContentLength"]]
resumed = s3.get_object(Bucket="flatfiles", Key=key, Range="bytes=100-", IfMatch=head["ETag"])
out["resumed"] = resumed["ContentLength"]
def code(f):
    try:
        f()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
for name, k in [("holiday", "us_stocks_sip/minute_aggs_v1/2024/07/2024-07-04.csv.gz"),
                ("unpublished", "us_stocks_sip/minute_aggs_v1/2024/07/2024-07-12.csv.gz"),
                ("weekend", "us_stocks_sip/day_aggs_v1/2024/07/2024-07-06.csv.gz"),
                ("elsewhere", "us_options_opra/day_aggs_v1/2024/07/2024-07-01.csv.gz")]:
    out[name] = code(lambda: s3.get_object(Bucket="flatfiles", Key=k))
out["if_match_other"] = code(lambda: s3.get_object(Bucket="flatfiles", Key=key, IfMatch='"0123"'))
out["if_none_match"] = code(lambda: s3.get_object(Bucket="flatfiles", Key=key, IfNoneMatch=head["ETag"]))
out["bad_secret"] = code(lambda: client(key_id, secret + "x").list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/"))
out["bad_key"] = code(lambda: client("AKIDNOTOURS", secret).list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/"))
signed = s3.generate_presigned_url("get_object", Params={"Bucket": "flatfiles", "Key": key}, ExpiresIn=60)
out["presigned"] = len(urllib.request.urlopen(signed).read())
def status(u):
    try:
        return urllib.request.urlopen(u).status
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
out["presigned_tampered"] = status(signed.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
out["unsigned"] = status(url + "/flatfiles/" + key)
json.dump(out, sys.stdout)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_lists_gets_and_is_refused_as_s3_refuses() {
    let sim = sim().await;
    let dir = std::env::temp_dir().join(format!("polygon-sim-boto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("2024-07-01.csv.gz");
    let base = sim.base_url().to_owned();
    let saved2 = saved.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(BOTO)
            .args([&base, s3::DEFAULT_ACCESS_KEY_ID, s3::DEFAULT_SECRET, saved2.to_str().unwrap()])
            .output()
            .expect("python3 must be installed for the S3 fidelity test")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the boto3 script failed (install boto3: `cargo xtask py-env`, xtask/requirements.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = listing();
    let day = |s: &str| s.parse::<Date>().unwrap();

    // July 2024 up to July 11 (the 4th is a holiday, the 12th not published before 11:00 on the 13th).
    let july: Vec<(String, usize, String)> = serde_json::from_value(v["july"].clone()).unwrap();
    let want_days = ["01", "02", "03", "05", "08", "09", "10", "11"];
    assert_eq!(
        july.iter().map(|(k, ..)| k.clone()).collect::<Vec<_>>(),
        want_days.iter().map(|d| s3::key_of(s3::MINUTE_PREFIX, day(&format!("2024-07-{d}")))).collect::<Vec<_>>()
    );
    let first = s3::render_day_file(&l, Timespan::Minute, day("2024-07-01"), NOW, None);
    assert_eq!(july[0].1, first.len(), "listed Size is the object's length");
    assert_eq!(std::fs::read(&saved).unwrap(), first, "GET returns the day file byte for byte");
    assert_eq!(v["get"][0], serde_json::json!(july[0].2), "ETag of GET = ETag listed");
    assert_eq!(v["head"], serde_json::json!([july[0].2, first.len()]));
    assert_eq!(v["get"][2], "2024-07-02T15:00:00+00:00", "published 11:00 New York the next day");
    assert_eq!(v["range"][0], format!("bytes 10-19/{}", first.len()));
    assert_eq!(v["range"][1], serde_json::json!(first[10..20].to_vec()));
    assert_eq!(v["presigned"], first.len());
    assert_eq!(v["resumed"], first.len() - 100);
    assert_eq!(v["if_match_other"], serde_json::json!(["PreconditionFailed", 412]));
    assert_eq!(v["if_none_match"], serde_json::json!(["304", 304]), "not modified");

    assert_eq!(v["prefixes"], serde_json::json!(["us_stocks_sip/day_aggs_v1/", "us_stocks_sip/minute_aggs_v1/"]));
    let months: Vec<String> = (1..=7).map(|m| format!("us_stocks_sip/day_aggs_v1/2024/{m:02}/")).collect();
    assert_eq!(v["months"], serde_json::json!(months));
    // Paging 7 at a time over January to September's prefix "2024/0": every day file up to July 11, once.
    let paged: Vec<String> = serde_json::from_value(v["paged"].clone()).unwrap();
    let want: Vec<String> = polygon_model::NyseCalendar
        .trading_days(day("2024-01-01"), day("2024-07-11"))
        .map(|d| s3::key_of(s3::DAY_PREFIX, d))
        .collect();
    assert_eq!(paged, want);

    for k in ["holiday", "unpublished", "weekend", "elsewhere"] {
        assert_eq!(v[k], serde_json::json!(["AccessDenied", 403]), "{k}");
    }
    assert_eq!(v["bad_secret"], serde_json::json!(["SignatureDoesNotMatch", 403]));
    assert_eq!(v["bad_key"], serde_json::json!(["InvalidAccessKeyId", 403]));
    assert_eq!(v["presigned_tampered"][0], 403);
    assert!(v["presigned_tampered"][1].as_str().unwrap().contains("<Code>SignatureDoesNotMatch</Code>"));
    assert_eq!(v["unsigned"][0], 403);
    assert!(v["unsigned"][1].as_str().unwrap().contains("<Code>AccessDenied</Code>"));

    let st = sim.stats();
    assert_eq!(st.requests, st.s3_lists + st.s3_gets + st.s3_heads + st.s3_denied);
    assert_eq!(st.aggs, 0, "the flat files are not the REST API");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn damaged_files_are_damaged_as_asked() {
    let l = listing();
    let date: Date = "2024-07-09".parse().unwrap();
    let good = s3::render_day_file(&l, Timespan::Minute, date, NOW, None);
    let bad_field = gunzip(&s3::render_day_file(&l, Timespan::Minute, date, NOW, Some(FlatFileFault::BadCsvField)));
    let row3 = bad_field.lines().nth(3).unwrap();
    assert_eq!(row3.split(',').nth(2), Some("1.2x"), "{row3}");
    let truncated = s3::render_day_file(&l, Timespan::Minute, date, NOW, Some(FlatFileFault::TruncatedGzip));
    assert_eq!(truncated.len(), good.len() / 2);
    let mut s = String::new();
    assert!(flate2::read::GzDecoder::new(&truncated[..]).read_to_string(&mut s).is_err());
    let corrupt = s3::render_day_file(&l, Timespan::Minute, date, NOW, Some(FlatFileFault::CorruptGzip));
    assert_eq!(corrupt.len(), good.len());
    let mut s = String::new();
    assert!(flate2::read::GzDecoder::new(&corrupt[..]).read_to_string(&mut s).is_err());
}

#[tokio::test]
async fn splits_endpoints_list_filter_and_page() {
    let sim = polygon_sim::Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let c = common::client();
    let base = sim.base_url();
    let get = |path: String| {
        let c = c.clone();
        async move { common::get_with(&c, &format!("{base}{path}"), &[("authorization", "Bearer k")]).await }
    };
    // The new endpoint, newest first by default, with the cumulative factor.
    let r = get("/stocks/v1/splits?ticker=TSLA".into()).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let res = j["results"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    assert_eq!(res[0]["execution_date"], "2022-08-25");
    assert_eq!(res[0]["split_to"], 3);
    assert_eq!(res[0]["adjustment_type"], "forward_split");
    assert_eq!(res[0]["historical_adjustment_factor"], 1.0 / 3.0);
    assert_eq!(res[1]["execution_date"], "2020-08-31");
    assert_eq!(res[1]["historical_adjustment_factor"], 1.0 / 15.0, "both splits since 2020 apply");
    // Not yet executed at NOW (2024-07-12): AVGO's of 2024-07-15 is not listed.
    let j = get("/stocks/v1/splits?ticker.any_of=AVGO,NVDA&sort=execution_date.asc".into()).await.json();
    let dates: Vec<&str> =
        j["results"].as_array().unwrap().iter().map(|r| r["execution_date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2021-07-20", "2024-06-10"]);
    // Date filters and paging: every split of 2020-2023, two a page, each once.
    let mut url = "/stocks/v1/splits?execution_date.gte=2020-01-01&execution_date.lt=2024-01-01&limit=2".to_owned();
    let mut seen = Vec::new();
    loop {
        let j = get(url.clone()).await.json();
        for r in j["results"].as_array().unwrap() {
            seen.push((r["ticker"].as_str().unwrap().to_owned(), r["execution_date"].as_str().unwrap().to_owned()));
        }
        match j["next_url"].as_str() {
            Some(n) => url = n.strip_prefix(base).unwrap().to_owned(),
            None => break,
        }
    }
    let mut want = Vec::new();
    for p in polygon_sim::market::Universe::get().profiles() {
        for s in p.splits() {
            let d = s.execution_date.to_string();
            if ("2020-01-01".."2024-01-01").contains(&d.as_str()) {
                want.push((p.ticker.clone(), d));
            }
        }
    }
    want.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    assert!(want.len() > 50, "synthetic splits too: {}", want.len());
    assert_eq!(seen, want);
    // The deprecated endpoint: its own shape (no factor) and defaults (10 a page).
    let j = get("/v3/reference/splits?ticker=AAPL".into()).await.json();
    assert_eq!(j["results"][0]["split_to"], 4);
    assert!(j["results"][0].get("historical_adjustment_factor").is_none());
    let j = get("/v3/reference/splits".into()).await.json();
    assert_eq!(j["results"].as_array().unwrap().len(), 10);
    assert!(j["next_url"].is_string());
    // Bad input names the parameter.
    let r = get("/stocks/v1/splits?adjustment_type=merger".into()).await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("adjustment_type"));
    assert_eq!(
        sim.stats().splits,
        5 + (seen.len() as u64).div_ceil(2),
        "two TSLA/AVGO, the pages, two deprecated, one bad"
    );
}

/// Issue 19's "one cached form": bars as traded plus the splits, adjusted on read, give the API's
/// adjusted bars. For every familiar split and 20 synthetic ones: minute bars of the days around
/// the split and daily bars of the year around it, as traded, adjusted by polygon-model's
/// `adjust_for_splits`, equal the simulator's `adjusted=true` bars (prices and volumes exactly,
/// VWAPs to their 4 decimals).
#[test]
fn adjusting_as_traded_bars_gives_the_api_adjusted_bars() {
    let today = polygon_model::ny_date_minute(NOW).unwrap().0;
    let u = polygon_sim::market::Universe::get();
    let split_tickers: Vec<&polygon_sim::market::Profile> = ["AAPL", "TSLA", "NVDA", "AMZN", "GOOGL", "WMT"]
        .iter()
        .map(|t| u.profile(t).unwrap())
        .chain(u.profiles().iter().filter(|p| p.splits().len() == 1 && p.ticker.len() == 4).take(20))
        .collect();
    let mut checked = 0;
    for p in split_tickers {
        let records: Vec<polygon_model::SplitRecord> = p
            .splits()
            .iter()
            .map(|s| polygon_model::SplitRecord {
                ticker: p.ticker.clone(),
                execution_date: s.execution_date.to_string(),
                split_from: f64::from(s.split_from),
                split_to: f64::from(s.split_to),
                id: None,
                adjustment_type: None,
                historical_adjustment_factor: None,
            })
            .collect();
        for s in p.splits().iter().filter(|s| s.execution_date <= today) {
            for (span, from, to) in [
                (Timespan::Minute, s.execution_date.add_days(-4), s.execution_date.add_days(2)),
                (Timespan::Day, s.execution_date.add_days(-200), s.execution_date.add_days(160)),
            ] {
                let (f, t) = (TimeBound::Date(from), TimeBound::Date(to));
                let raw = polygon_sim::expected_aggregates_as(&p.ticker, Multiplier::ONE, span, f, t, NOW, false);
                let api = polygon_sim::expected_aggregates_as(&p.ticker, Multiplier::ONE, span, f, t, NOW, true);
                let mut cols = polygon_model::BarColumns::new();
                cols.begin_series(p.ticker.parse().unwrap());
                raw.iter().for_each(|b| cols.push(b));
                let n = polygon_model::adjust_for_splits(&mut cols, &records, today).unwrap();
                assert!(n > 0, "{} {span}: some bars precede the split", p.ticker);
                assert_eq!(cols.len(), api.len());
                for (i, want) in api.iter().enumerate() {
                    let got = cols.bar(i).unwrap();
                    let ctx = format!("{} {span} bar {i} at {}", p.ticker, want.t);
                    assert_eq!(
                        (got.t, got.o, got.h, got.l, got.c, got.v, got.n),
                        (want.t, want.o, want.h, want.l, want.c, want.v, want.n),
                        "{ctx}"
                    );
                    assert!(
                        (got.vw.unwrap() - want.vw.unwrap()).abs() <= 1e-4 + 1e-9,
                        "{ctx}: vw {:?} {:?}",
                        got.vw,
                        want.vw
                    );
                }
                checked += api.len();
            }
        }
    }
    assert!(checked > 50_000, "{checked} bars checked");
}
