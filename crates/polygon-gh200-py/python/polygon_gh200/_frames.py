"""Rust-owned columns into pandas, polars and Arrow, without per-element copies.

Each native ``Column`` exposes numpy's ``__array_interface__`` over its Rust buffer, so
``numpy.asarray(column)`` is a view whose ``base`` is that column; pandas and polars then wrap
the views. The price, volume and time columns are never copied; the one new buffer per batch is
the byte mask of absent trade counts (and, in long frames, the ticker codes).
"""

from __future__ import annotations

from typing import Iterable, List, Tuple

import numpy as np

from . import _native

#: Bar columns, named as the official client's ``Agg`` fields.
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "vwap", "transactions")
FLOAT_COLUMNS = ("open", "high", "low", "close", "volume", "vwap")
OUTPUTS = ("pandas", "polars", "arrow")


def _pd():
    import pandas as pd  # a dependency of the package; imported late to keep `import` quick

    return pd


def require(output: str):
    """The library ``output`` needs, or an ImportError naming the package to install."""
    if output not in OUTPUTS:
        from .errors import ArgumentError

        raise ArgumentError(f"output: {output!r} is not one of {', '.join(OUTPUTS)}")
    if output == "polars":
        try:
            import polars
        except ImportError as e:
            raise ImportError(
                'output="polars" needs the polars package: pip install polars '
                "(or pip install ./crates/polygon-gh200-py[polars])"
            ) from e
        return polars
    if output == "arrow":
        return None  # the Arrow PyCapsule stream needs no library of ours
    return _pd()


def _utc_index(t: np.ndarray, name: str = "timestamp"):
    """A ``DatetimeIndex`` (``datetime64[ms, UTC]``) over ``t`` itself."""
    pd = _pd()
    dtype = pd.DatetimeTZDtype(unit="ms", tz="UTC")
    try:
        values = pd.arrays.DatetimeArray._simple_new(t, dtype=dtype)
        return pd.DatetimeIndex(values, name=name, copy=False)
    except (AttributeError, TypeError, ValueError):  # a pandas without the constructor: copy
        return pd.DatetimeIndex(t, name=name).tz_localize("UTC")


def _views(bars) -> dict:
    """numpy views of every column of a native ``Bars``."""
    out = {"timestamp": np.asarray(bars.timestamp)}
    for name in FLOAT_COLUMNS:
        out[name] = np.asarray(getattr(bars, name))
    out["transactions"] = np.asarray(bars.transactions)
    out["missing"] = np.asarray(bars.transactions_missing)
    return out


def _pandas(bars, extra: Iterable[Tuple[str, np.ndarray]] = (), ticker=None):
    pd = _pd()
    v = _views(bars)
    cols: dict = {}
    if ticker is not None:
        cols["ticker"] = ticker
    for name in FLOAT_COLUMNS:
        cols[name] = v[name]
    cols["transactions"] = pd.arrays.IntegerArray(v["transactions"], v["missing"])
    cols.update(extra)
    return pd.DataFrame(cols, index=_utc_index(v["timestamp"]), copy=False)


def _polars(table):
    """polars over the Arrow export: it imports the buffers without copying them."""
    import polars as pl

    return pl.DataFrame(table)


def series_frame(bars, output: str):
    """One ticker's frame (``bars`` holds one series)."""
    if output == "pandas":
        return _pandas(bars)
    table = _native.ArrowTable(bars, None, False)
    return _polars(table) if output == "polars" else table


def _ticker_codes(bars) -> Tuple[np.ndarray, List[str]]:
    offsets = np.asarray(bars.offsets)
    counts = np.diff(offsets)
    k = len(bars.tickers)
    dtype = np.int8 if k < 2**7 else np.int16 if k < 2**15 else np.int32
    return np.repeat(np.arange(k, dtype=dtype), counts), list(bars.tickers)


def long_frame(bars, output: str, indicators=None):
    """Every ticker's rows in one frame with a categorical ``ticker`` column, and the indicator
    columns when given (the session VWAP as ``session_vwap``: ``vwap`` is the bar's own)."""
    if output != "pandas":
        table = _native.ArrowTable(bars, indicators, True)
        return _polars(table) if output == "polars" else table
    extra: List[Tuple[str, np.ndarray]] = []
    if indicators is not None:
        for name, col in indicators.items():
            extra.append(("session_vwap" if name == "vwap" else name, np.asarray(col)))
    pd = _pd()
    codes, names = _ticker_codes(bars)
    ticker = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
    return _pandas(bars, extra, ticker=ticker)
