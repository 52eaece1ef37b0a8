"""Outputs: pandas, polars and Arrow agree; columns cross without a copy; long frames, streams
and indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import polygon_gh200 as pg
from conftest import FROM, TO

TICKERS = ["AAPL", "MSFT", "GOOGL", "FAIL", "AMZN"]


def _owner(a: np.ndarray):
    """The object at the end of an array's `base` chain."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def test_price_and_time_columns_are_the_rust_buffers_not_copies(client):
    df = client.get_aggregates("AAPL", 1, "minute", FROM, TO)
    for col in ["open", "close", "volume", "vwap"]:
        owner = _owner(df[col].to_numpy())
        assert isinstance(owner, pg._native.Column), (col, type(owner))
        assert df[col].to_numpy().__array_interface__["data"][0] == owner.__array_interface__["data"][0]
    assert isinstance(_owner(df.index.asi8), pg._native.Column)
    assert isinstance(_owner(df["transactions"].array._data), pg._native.Column)
    # Writable like any frame: an edit lands in the frame (and nowhere else: the cache holds
    # its own archives).
    df.iloc[0, df.columns.get_loc("close")] = -1.0
    assert df["close"].iloc[0] == -1.0
    assert client.get_aggregates("AAPL", 1, "minute", FROM, TO)["close"].iloc[0] != -1.0


def test_batch_frames_are_views_too(client):
    r = client.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
    for df in r.values():
        assert isinstance(_owner(df["close"].to_numpy()), pg._native.Column)


def test_frames_built_from_blocks_equal_the_public_constructor_and_behave(client, monkeypatch):
    from polygon_gh200 import _frames

    got = client.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
    # This pandas takes the block path (the pinned one does; a pandas where it differs falls back).
    assert _frames._builder is not _frames._public_frame
    with pytest.warns(pg.FetchWarning):
        long = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO)
    monkeypatch.setattr(_frames, "_builder", _frames._public_frame)
    want = client.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
    with pytest.warns(pg.FetchWarning):
        long_want = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO)
    for t in want:
        pd.testing.assert_frame_equal(got[t], want[t], check_exact=True)
    pd.testing.assert_frame_equal(long, long_want, check_exact=True)
    # Ordinary pandas on it: new columns, renames on one frame only, concat, resample.
    a, b = got["AAPL"], got["MSFT"]
    a["range"] = a["high"] - a["low"]
    a.columns.name = "field"
    assert b.columns.name is None and "range" not in b
    both = pd.concat({"AAPL": a.drop(columns="range"), "MSFT": b}, names=["ticker"])
    assert len(both) == len(a) + len(b)
    daily = b.resample("1D")["volume"].sum()
    assert daily.sum() == b["volume"].sum()


def test_long_frame_columns_are_not_copied(client):
    with pytest.warns(pg.FetchWarning):
        df = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO)
    assert isinstance(_owner(df["close"].to_numpy()), pg._native.Column)
    assert isinstance(_owner(df.index.asi8), pg._native.Column)


def test_polars_and_arrow_do_not_copy_either(client):
    # The export over native bars (what output="arrow" returns): pyarrow's and polars' buffers are
    # the native columns' own addresses.
    bars = client._src.aggregates("AAPL", 1, "minute", FROM, TO)
    t = pg._native.ArrowTable(bars)
    table = pa.table(t)
    for name in ["timestamp", "close", "volume", "transactions"]:
        want = getattr(bars, name).__array_interface__["data"][0]
        assert table.column(name).chunk(0).buffers()[1].address == want, name
    p = pl.DataFrame(t)
    assert p["close"].to_numpy().__array_interface__["data"][0] == bars.close.__array_interface__["data"][0]
    assert len(table) == len(bars) > 1000
    assert isinstance(client.get_aggregates("AAPL", 1, "minute", FROM, TO, output="arrow"), pg._native.ArrowTable)


def test_polars_and_arrow_equal_pandas(client):
    with pytest.warns(pg.FetchWarning):
        want = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO)
    with pytest.warns(pg.FetchWarning):
        p = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO, output="polars")
    with pytest.warns(pg.FetchWarning):
        a = pa.table(client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO, output="arrow"))
    assert isinstance(p, pl.DataFrame)
    assert p.columns == a.column_names == ["timestamp", "ticker", *pg._frames.BAR_COLUMNS]
    assert a.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert a.schema.field("transactions").type == pa.int64()
    from_arrow = a.to_pandas().set_index("timestamp")
    from_polars = p.to_pandas().set_index("timestamp")
    for other in (from_arrow, from_polars):
        assert other.index.equals(want.index)
        assert other["ticker"].astype(str).tolist() == want["ticker"].astype(str).tolist()
        for col in pg._frames.FLOAT_COLUMNS:
            np.testing.assert_array_equal(other[col].to_numpy(), want[col].to_numpy(), err_msg=col)
        assert other["transactions"].astype("Int64").equals(want["transactions"])
    # Per ticker too.
    one = client.get_aggregates("MSFT", 1, "minute", FROM, TO, output="polars")
    assert one.columns == ["timestamp", *pg._frames.BAR_COLUMNS]
    np.testing.assert_array_equal(one["close"].to_numpy(), client.get_aggregates("MSFT", 1, "minute", FROM, TO)["close"])


@pytest.fixture
def sparse_server():
    """A real HTTP server answering every aggregates request with two AAPL minute bars, the
    second without `vw` and `n` (as Polygon sends some bars; the simulator always sends both)."""
    import http.server
    import json
    import threading

    t0 = 1727789400000  # 2024-10-01 09:30 New York
    body = json.dumps(
        {
            "ticker": "AAPL",
            "queryCount": 2,
            "resultsCount": 2,
            "adjusted": True,
            "status": "OK",
            "request_id": "sparse",
            "results": [
                {"v": 100, "vw": 10.5, "o": 10, "c": 11, "h": 11, "l": 10, "t": t0, "n": 7},
                {"v": 50, "o": 11, "c": 12, "h": 12, "l": 11, "t": t0 + 60000},
            ],
        }
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_absent_vwap_is_nan_and_absent_transactions_is_missing(sparse_server):
    with pg.PolygonDataSource(base_url=sparse_server, api_key="k", redis_url="off", cache_disk=False) as c:
        df = c.get_aggregates("AAPL", 1, "minute", "2024-10-01", "2024-10-01")
        assert df["vwap"].iloc[0] == 10.5 and np.isnan(df["vwap"].iloc[1])
        assert df["transactions"].dtype == "Int64"
        assert df["transactions"].iloc[0] == 7 and df["transactions"].isna().tolist() == [False, True]
        a = pa.table(c.get_aggregates("AAPL", 1, "minute", "2024-10-01", "2024-10-01", output="arrow"))
        assert a.column("transactions").null_count == 1 and a.column("transactions").to_pylist() == [7, None]
        p = c.get_aggregates("AAPL", 1, "minute", "2024-10-01", "2024-10-01", output="polars")
        assert p["transactions"].to_list() == [7, None] and p["vwap"].is_nan().to_list() == [False, True]
        long = c.get_aggregates_frame(["AAPL"], 1, "minute", "2024-10-01", "2024-10-01")
        assert long["transactions"].isna().tolist() == [False, True]


def test_long_frame_equals_the_per_ticker_frames(client):
    with pytest.warns(pg.FetchWarning):
        long = client.get_aggregates_frame(TICKERS, from_date=FROM, to_date=TO)
    with pytest.warns(pg.FetchWarning):
        batch = client.get_aggregates_batch(TICKERS, from_date=FROM, to_date=TO)
    assert isinstance(long["ticker"].dtype, pd.CategoricalDtype)
    assert list(long["ticker"].unique()) == list(batch)
    assert set(long.attrs["errors"]) == {"FAIL"}
    for t, df in batch.items():
        part = long[long["ticker"] == t].drop(columns="ticker")
        pd.testing.assert_frame_equal(part, df)


def test_stream_yields_bounded_chunks_with_indicators(make_client):
    c = make_client(batch_size=2)
    chunks = list(c.stream(TICKERS, from_date=FROM, to_date=TO, indicators=True))
    assert all(isinstance(ch, pg.Chunk) for ch in chunks)
    assert all(len(ch.tickers) <= 2 for ch in chunks)
    assert [t for ch in chunks for t in ch.tickers] == ["AAPL", "MSFT", "GOOGL", "AMZN"]
    errors = {t: e for ch in chunks for t, e in ch.errors.items()}
    assert list(errors) == ["FAIL"] and isinstance(errors["FAIL"], pg.ServerError)
    frame = pd.concat([ch.frame for ch in chunks])
    for name in ["log_return", "sma_20", "ema_20", "std_20", "bb_upper_20", "bb_lower_20", "rsi_14", "session_vwap"]:
        assert name in frame.columns
    want = c.compute_indicators(c.get_aggregates_frame(["AAPL"], from_date=FROM, to_date=TO))
    got = frame[frame["ticker"] == "AAPL"]
    np.testing.assert_allclose(got["sma_20"].to_numpy(), want["sma_20"].to_numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["session_vwap"].to_numpy(), want["vwap"].to_numpy(), rtol=1e-12, equal_nan=True)


def test_stream_in_polars_and_leaving_early(make_client):
    c = make_client(batch_size=1)
    it = c.stream(["AAPL", "MSFT", "GOOGL"], from_date=FROM, to_date=TO, output="polars")
    first = next(it)
    assert isinstance(first.frame, pl.DataFrame) and first.tickers == ["AAPL"]
    it.close()
    assert list(it) == []


def test_indicators_match_a_pandas_reference(client):
    df = client.get_aggregates("AAPL", 1, "minute", FROM, TO)
    ind = client.compute_indicators(df)
    assert list(ind.columns) == list(pg.INDICATORS)
    assert ind.index.equals(df.index)
    close = df["close"]
    np.testing.assert_allclose(ind["sma_20"], close.rolling(20).mean(), rtol=1e-9, equal_nan=True)
    lr = np.log(close / close.shift(1))
    np.testing.assert_allclose(ind["log_return"], lr, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ind["std_20"], lr.rolling(20).std(ddof=1), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ind["ema_20"], close.ewm(span=20, adjust=False).mean(), rtol=1e-9)
    sd = close.rolling(20).std(ddof=0)
    np.testing.assert_allclose(ind["bb_upper_20"], close.rolling(20).mean() + 2 * sd, rtol=1e-9, equal_nan=True)


def test_indicators_of_a_long_frame_are_per_ticker_even_interleaved(client):
    long = client.get_aggregates_frame(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
    ind = client.compute_indicators(long)
    for t in ["AAPL", "MSFT"]:
        one = client.compute_indicators(client.get_aggregates(t, 1, "minute", FROM, TO))
        part = ind[(long["ticker"] == t).to_numpy()]
        np.testing.assert_allclose(part.to_numpy(), one.to_numpy(), rtol=1e-12, equal_nan=True)
    # Rows shuffled: the same values, in the shuffled order.
    order = np.random.default_rng(1).permutation(len(long))
    shuffled = long.iloc[order]
    got = client.compute_indicators(shuffled)
    np.testing.assert_allclose(got.to_numpy(), ind.iloc[order].to_numpy(), rtol=1e-12, equal_nan=True)
    pl_ind = client.compute_indicators(pl.from_pandas(long.reset_index()))
    np.testing.assert_allclose(pl_ind.to_numpy(), ind.to_numpy(), rtol=1e-12, equal_nan=True)


def test_indicators_reject_frames_without_prices(client):
    with pytest.raises(pg.ArgumentError, match="close"):
        client.compute_indicators(pd.DataFrame({"open": [1.0]}, index=pd.DatetimeIndex(["2024-10-01"])))
    with pytest.raises(pg.ArgumentError, match="DatetimeIndex"):
        client.compute_indicators(pd.DataFrame({k: [1.0] for k in ["open", "high", "low", "close", "volume"]}))
