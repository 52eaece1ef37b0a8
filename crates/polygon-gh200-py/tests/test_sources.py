"""Sources from Python: ``source="rest"`` and ``source="flatfiles"`` give the same bars but VWAP
(absent from the files, NaN), across NVDA's split, adjusted and as traded; ``plan()`` says what a
request costs; refusals are named exceptions. Against the in-process simulator's REST API and
its flat-file store (S3, SigV4) over real sockets."""

from __future__ import annotations

import numpy as np
import pytest

import polygon_gh200 as pg

KEY = "pytest-key"
JUNE = dict(from_date="2024-06-03", to_date="2024-06-28")  # NVDA split 10-for-1 on 2024-06-10
TICKERS = ["AAPL", "NVDA", "MSFT"]


@pytest.fixture(scope="module")
def market():
    with pg.Simulator(universe=30, api_key=KEY) as s:
        yield s


@pytest.fixture
def make(market):
    made = []

    def make(**settings):
        base = dict(base_url=market.url, api_key=KEY, redis_url="off", cache_disk=False, **market.s3_settings)
        base.update(settings)
        c = pg.PolygonDataSource(**base)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.mark.parametrize("adjusted", [True, False])
def test_rest_and_flat_files_give_the_same_bars_but_vwap(make, market, adjusted):
    rest = make().get_aggregates_batch(TICKERS, timespan="minute", adjusted=adjusted, source="rest", strict=True, **JUNE)
    before = market.stats()
    files = make().get_aggregates_batch(TICKERS, timespan="minute", adjusted=adjusted, source="flatfiles", strict=True, **JUNE)
    after = market.stats()
    assert after["aggs"] == before["aggs"], "no aggregates request from files"
    assert after["s3_gets"] - before["s3_gets"] == 19, "June's 19 sessions, each file once"
    assert list(files) == TICKERS
    for t in TICKERS:
        r, f = rest[t], files[t]
        assert len(r) > 1000 and r.index.equals(f.index), t
        for col in ["open", "high", "low", "close", "volume", "transactions"]:
            assert np.array_equal(r[col].to_numpy(), f[col].to_numpy()), (t, col)
        assert f["vwap"].isna().all() and r["vwap"].notna().all(), "files carry no VWAP, never invented"
    nvda = files["NVDA"]["open"]
    ratio = nvda.iloc[0] / nvda.iloc[-1]
    assert (ratio < 3) if adjusted else (ratio > 5), f"NVDA first/last open {ratio}"


def test_plan_says_what_each_source_costs_and_asks_for_no_bars(make, market):
    before = market.stats()
    p = make(rate_limit="1/s").plan(TICKERS, timespan="minute", **JUNE)
    after = market.stats()
    assert (after["aggs"], after["s3_gets"]) == (before["aggs"], before["s3_gets"])
    assert p["tickers"] == 3 and p["chunk_unit"] == "month" and p["cached"] == 0
    unit = p["units"][0]
    assert (unit["from"], unit["to"], unit["missing"]) == ("2024-06-01", "2024-06-30", 3)
    assert unit["rest"]["requests"] == 3 and unit["files"]["files"] == 19
    assert unit["source"] == "flatfiles", "three requests at 1/s cost more than the files"
    assert make().plan(TICKERS, timespan="minute", source="rest", **JUNE)["units"][0]["source"] == "rest"
    vw = make().plan(TICKERS, timespan="minute", require_vwap=True, **JUNE)
    assert "VWAP" in vw["files_unavailable"] and vw["units"][0]["source"] == "rest"


def test_require_vwap_keeps_bars_off_files(make, market):
    c = make()
    c.get_aggregates_batch(TICKERS, timespan="minute", source="flatfiles", strict=True, **JUNE)
    before = market.stats()["aggs"]
    got = c.get_aggregates_batch(TICKERS, timespan="minute", require_vwap=True, strict=True, **JUNE)
    assert market.stats()["aggs"] - before == 3, "the VWAP-less chunks are not taken for full ones"
    assert all(df["vwap"].notna().all() for df in got.values())


def test_refusals_are_named_exceptions(make, market):
    with pytest.raises(pg.ArgumentError, match="source"):
        make().get_aggregates("AAPL", timespan="minute", source="s3", **JUNE)
    bare = make(s3_access_key_id=None, s3_secret_access_key=None, s3_endpoint=None)
    with pytest.raises(pg.ConfigError, match="POLYGON_S3_ACCESS_KEY_ID"):
        bare.get_aggregates("AAPL", timespan="minute", source="flatfiles", **JUNE)
    wrong = make(s3_secret_access_key="not-the-secret")
    with pytest.warns(pg.FetchWarning):
        out = wrong.get_aggregates_batch(TICKERS, timespan="minute", source="flatfiles", **JUNE)
    assert not out and set(out.errors) == set(TICKERS)
    for e in out.errors.values():
        assert isinstance(e, pg.AuthError) and "POLYGON_S3_SECRET_ACCESS_KEY" in str(e)
        assert "not-the-secret" not in str(e)
    auto = wrong.get_aggregates_batch(TICKERS, timespan="minute", strict=True, **JUNE)
    assert set(auto) == set(TICKERS) and all(df["vwap"].notna().all() for df in auto.values()), "auto: REST"
