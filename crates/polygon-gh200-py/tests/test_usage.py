"""The seed's usage, the official client's values, errors, dates, arguments."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

import polygon_gh200 as pg
from conftest import FROM, KEY, TO

SEED = textwrap.dedent(
    """
    from polygon_gh200 import PolygonDataSource
    client = PolygonDataSource()
    symbols = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]
    results = client.get_aggregates_batch(symbols, timespan="minute")
    for symbol, df in results.items():
        print(f"{symbol}: {len(df)} data points")
    """
)


def test_the_seeds_usage_runs_as_written(sim, tmp_path):
    env = dict(os.environ, POLYGON_BASE_URL=sim.url, POLYGON_API_KEY=KEY, REDIS_URL="off", CACHE_DIR=str(tmp_path / "c"))
    out = subprocess.run([sys.executable, "-c", SEED], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"], out.stdout
    # The default range is the 30 days to today in New York: thousands of minute bars each.
    assert all(int(line.split()[1]) > 1000 for line in lines), out.stdout


def test_frames_have_the_official_clients_fields_and_values(client, sim):
    from massive import RESTClient

    official = RESTClient(api_key=KEY, base=sim.url, retries=0)
    for ticker in ["AAPL", "MSFT"]:
        df = client.get_aggregates(ticker, 1, "minute", FROM, TO)
        aggs = list(official.list_aggs(ticker, 1, "minute", FROM, TO, limit=50000))
        assert len(df) == len(aggs) > 1000
        assert list(df.columns) == ["open", "high", "low", "close", "volume", "vwap", "transactions"]
        assert df.index.name == "timestamp" and str(df.index.dtype) == "datetime64[ms, UTC]"
        theirs = pd.DataFrame(aggs)
        for col in ["open", "high", "low", "close", "volume", "vwap"]:
            np.testing.assert_array_equal(df[col].to_numpy(), theirs[col].to_numpy(dtype="f8"), err_msg=col)
        assert df["transactions"].tolist() == theirs["transactions"].tolist()
        ms = df.index.as_unit("ms").asi8
        np.testing.assert_array_equal(ms, theirs["timestamp"].to_numpy(dtype="i8"))


def test_adjusted_false_gives_bars_as_traded_like_the_official_client(make_client, sim, tmp_path):
    # NVDA split 10 for 1 on 2024-06-10 (the simulator knows it): before that day, as traded
    # prices are 10x the adjusted ones and volumes a tenth; from it on the two agree.
    from massive import RESTClient

    official = RESTClient(api_key=KEY, base=sim.url, retries=0)
    client = make_client(cache_disk=True, cache_dir=str(tmp_path / "disk"))
    frm, to = "2024-06-03", "2024-06-14"
    for _ in range(2):  # cold, then from the cache: the two are kept apart
        raw = client.get_aggregates("NVDA", 1, "day", frm, to, adjusted=False)
        adj = client.get_aggregates("NVDA", 1, "day", frm, to)
        assert len(raw) == len(adj) == 10
        before = raw.index < pd.Timestamp("2024-06-10", tz="America/New_York")
        assert before.sum() == 5
        np.testing.assert_allclose(raw["close"][before], 10 * adj["close"][before], rtol=1e-12)
        np.testing.assert_allclose(raw["volume"][before] * 10, adj["volume"][before], rtol=1e-12)
        pd.testing.assert_frame_equal(raw[~before], adj[~before])
        for frame, adjusted in ((raw, False), (adj, True)):
            theirs = pd.DataFrame(official.get_aggs("NVDA", 1, "day", frm, to, adjusted=adjusted))
            for col in ["open", "high", "low", "close", "volume", "vwap"]:
                np.testing.assert_array_equal(frame[col].to_numpy(), theirs[col].to_numpy(dtype="f8"), err_msg=col)
    batch = client.get_aggregates_batch(["NVDA", "AAPL"], 1, "day", frm, to, adjusted=False)
    pd.testing.assert_frame_equal(batch["NVDA"], raw)
    long = client.get_aggregates_frame(["NVDA"], 1, "day", frm, to, adjusted=False)
    np.testing.assert_array_equal(long["close"].to_numpy(), raw["close"].to_numpy())


def test_a_failing_ticker_is_in_errors_and_in_the_warning(client):
    with pytest.warns(pg.FetchWarning, match=r"1 of 3 tickers failed: FAIL"):
        r = client.get_aggregates_batch(["AAPL", "FAIL", "MSFT"], from_date=FROM, to_date=TO)
    assert isinstance(r, pg.BatchResult) and isinstance(r, dict)
    assert list(r) == ["AAPL", "MSFT"]
    assert list(r.errors) == ["FAIL"]
    e = r.errors["FAIL"]
    assert isinstance(e, pg.ServerError) and isinstance(e, pg.PolygonError)
    assert "FAIL" in str(e) and "HTTP 500" in str(e)


def test_strict_raises_with_the_successes_and_the_errors(client):
    with pytest.raises(pg.BatchError) as info:
        client.get_aggregates_batch(["AAPL", "FAIL"], from_date=FROM, to_date=TO, strict=True)
    assert list(info.value.results) == ["AAPL"] and list(info.value.errors) == ["FAIL"]


def test_no_warning_when_every_ticker_succeeds(client):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = client.get_aggregates_batch(["AAPL", "AAPL", "MSFT"], from_date=FROM, to_date=TO)
    assert list(r) == ["AAPL", "MSFT"] and r.errors == {}


@pytest.mark.parametrize(
    "frm,to",
    [
        ("2024-10-01", "2024-10-02"),
        (dt.date(2024, 10, 1), dt.date(2024, 10, 2)),
        (dt.datetime(2024, 10, 1, 9, 30), dt.datetime(2024, 10, 2, 16, 0)),
        (pd.Timestamp("2024-10-01"), pd.Timestamp("2024-10-02")),
        # Aware instants count in New York: 03:00 UTC on the 2nd is still the 1st there.
        (pd.Timestamp("2024-10-01 12:00", tz="UTC"), pd.Timestamp("2024-10-03 03:00", tz="UTC")),
        (np.datetime64("2024-10-01"), np.datetime64("2024-10-02")),
    ],
    ids=["str", "date", "datetime", "Timestamp", "aware", "datetime64"],
)
def test_dates_of_each_accepted_type(client, frm, to):
    want = client.get_aggregates("AAPL", 1, "minute", "2024-10-01", "2024-10-02")
    got = client.get_aggregates("AAPL", 1, "minute", frm, to)
    pd.testing.assert_frame_equal(got, want)


def test_default_range_is_thirty_days_to_today_in_new_york(client):
    df = client.get_aggregates("AAPL", timespan="day")
    today = dt.date.fromisoformat(pg._native.today_new_york())
    days = df.index.tz_convert("America/New_York").date
    assert len(df) >= 15
    assert min(days) >= today - dt.timedelta(days=30) and max(days) <= today


def test_limit_never_truncates(client):
    full = client.get_aggregates("AAPL", 1, "minute", FROM, TO)
    limited = client.get_aggregates("AAPL", 1, "minute", FROM, TO, limit=10)
    assert len(limited) == len(full) > 10


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda c: c.get_aggregates("AAPL", 1, "fortnight", FROM, TO), pg.ArgumentError, "timespan"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", "2024-13-01", TO), pg.ArgumentError, "from_date"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", None, "yesterday"), pg.ArgumentError, "to_date"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", TO, FROM), pg.ArgumentError, "after"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", 20240101, TO), pg.ArgumentError, "from_date"),
        (lambda c: c.get_aggregates("AAPL", 0, "day", FROM, TO), pg.ArgumentError, "multiplier"),
        (lambda c: c.get_aggregates("no such!", 1, "day", FROM, TO), pg.ArgumentError, "no such!"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", FROM, TO, output="excel"), pg.ArgumentError, "output"),
        (lambda c: c.get_aggregates("AAPL", 1, "day", FROM, TO, adjusted="no"), pg.ArgumentError, "adjusted"),
        (lambda c: c.get_aggregates_batch(["AAPL", 7]), pg.ArgumentError, "tickers"),
    ],
    ids=["timespan", "date", "to-date", "order", "date-type", "multiplier", "ticker", "output", "adjusted", "ticker-type"],
)
def test_bad_arguments_raise_named_errors(client, call, error, words):
    with pytest.raises(error, match=words):
        call(client)
    assert issubclass(error, ValueError)


def test_a_malformed_ticker_fails_alone_in_a_batch(client):
    with pytest.warns(pg.FetchWarning):
        r = client.get_aggregates_batch(["AAPL", "bad ticker!"], from_date=FROM, to_date=TO)
    assert list(r) == ["AAPL"] and isinstance(r.errors["bad ticker!"], pg.ArgumentError)


@pytest.mark.parametrize(
    "settings,words",
    [
        (dict(max_workers=0), "MAX_WORKERS"),
        (dict(base_url="ftp://x"), "POLYGON_BASE_URL"),
        (dict(redis_url="mysql://x"), "REDIS_URL"),
        (dict(cache_disk="sometimes"), "CACHE_DISK"),
        (dict(gpu_backend="tpu"), "GPU_BACKEND"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_setting(settings, words):
    with pytest.raises(pg.ConfigError, match=words) as info:
        pg.PolygonDataSource(**{"redis_url": "off", "cache_disk": False, **settings})
    assert isinstance(info.value, ValueError)


def test_an_unknown_setting_is_a_type_error_listing_the_settings():
    with pytest.raises(TypeError, match="max_workers"):
        pg.PolygonDataSource(max_wrokers=3)


def test_the_environment_and_a_toml_file_configure_it_and_keywords_win(sim, tmp_path, monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    f = tmp_path / "c.toml"
    f.write_text(f'POLYGON_BASE_URL = "{sim.url}"\nREDIS_URL = "off"\nCACHE_DISK = "off"\nMAX_WORKERS = "0"\n')
    with pytest.raises(pg.ConfigError, match="MAX_WORKERS"):
        pg.PolygonDataSource(config=f)
    with pg.PolygonDataSource(config=f, max_workers=4) as c:
        assert len(c.get_aggregates("AAPL", 1, "minute", FROM, TO)) > 1000
        assert "max_workers: 4" in repr(c)


def test_auth_errors_and_the_key_never_shown(sim):
    secret = "sk-live-DO-NOT-LEAK-123"
    with pg.PolygonDataSource(base_url=sim.url, api_key=secret, redis_url="off", cache_disk=False, max_retries=0) as c:
        assert secret not in repr(c)
        with pytest.raises(pg.AuthError) as info:
            c.get_aggregates("AAPL", 1, "minute", FROM, TO)
        assert secret not in str(info.value) and secret not in repr(info.value)
        with pytest.warns(pg.FetchWarning) as w:
            r = c.get_aggregates_batch(["AAPL"], from_date=FROM, to_date=TO)
        assert isinstance(r.errors["AAPL"], pg.AuthError)
        assert all(secret not in str(x.message) for x in w)


def test_a_closed_source_raises_shut_down(make_client):
    c = make_client()
    c.close()
    c.close()  # idempotent
    with pytest.raises(pg.ShutDownError):
        c.get_aggregates("AAPL", 1, "minute", FROM, TO)


def test_missing_optional_library_is_an_import_error_naming_it(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match="pip install polars"):
        client.get_aggregates("AAPL", 1, "minute", FROM, TO, output="polars")


def test_the_demo_runs_from_python(tmp_path):
    env = dict(os.environ, REDIS_URL="off", CACHE_DIR=str(tmp_path / "c"))
    args = [sys.executable, "-m", "polygon_gh200", "demo", "--tickers", "3", "--from", FROM, "--to", TO, "--latency-ms", "1"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "polygon-gh200 demo" in out.stdout and "warm speed-up" in out.stdout
    assert "API requests" in out.stdout
    bad = subprocess.run([*args[:4], "--tickers", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--tickers 0" in bad.stderr


def _public(cls):
    """The public members a class of ours defines (not those it inherits from dict)."""
    for c in cls.__mro__:
        if c.__module__.startswith("polygon_gh200"):
            for name, member in vars(c).items():
                if not name.startswith("_"):
                    yield name, member


def test_every_public_function_has_a_docstring_with_an_example():
    missing = []
    for name in pg.__all__:
        obj = getattr(pg, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            continue  # the exception classes: documented in polygon_gh200.errors, whose docstring has the example
        if not callable(obj):
            continue
        if ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
        if isinstance(obj, type):
            for attr, member in _public(obj):
                target = member.fget if isinstance(member, property) else member
                target = target.__func__ if isinstance(target, staticmethod) else target
                if callable(target) and ">>>" not in (getattr(target, "__doc__", "") or ""):
                    missing.append(f"{name}.{attr}")
    assert missing == []
    assert ">>>" in pg.errors.__doc__


def test_the_package_ships_its_types():
    import importlib.resources

    files = importlib.resources.files("polygon_gh200")
    assert (files / "py.typed").is_file() and (files / "_native.pyi").is_file()


def test_doctests_of_the_runnable_examples():
    import doctest

    failures, tried = doctest.testmod(pg, optionflags=doctest.ELLIPSIS, extraglobs={"pg": pg})
    assert tried > 5 and failures == 0


def test_shards_split_a_batch_as_the_cli_does(client):
    tickers = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "BRK.B", "NVDA", "META"]
    whole = client.get_aggregates_batch(tickers, from_date=FROM, to_date=TO)
    parts = [client.get_aggregates_batch(tickers, from_date=FROM, to_date=TO, shard=(k, 3)) for k in range(3)]
    owned = [set(p) for p in parts]
    assert sum(len(o) for o in owned) == len(tickers) and set().union(*owned) == set(tickers)
    assert sum(1 for o in owned if o) > 1, owned
    for p in parts:
        for t, df in p.items():
            pd.testing.assert_frame_equal(df, whole[t])
    # The split is rendezvous-v1's (the Rust golden test pins the same owners).
    assert pg._native.shard_select(["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "BRK.B"], 2, 4) == ["AAPL", "MSFT", "BRK.B"]
    frame = client.get_aggregates_frame(tickers, from_date=FROM, to_date=TO, shard=(1, 3))
    assert set(frame["ticker"].astype(str)) == owned[1]
    for bad in [(3, 3), (0, 0), (-1, 2), "0/3", (1, 2, 3)]:
        with pytest.raises(pg.ArgumentError, match="shard"):
            client.get_aggregates_batch(tickers, shard=bad)
