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


def _public_frame(columns: List[Tuple[str, object]], index):
    """pandas' public constructor over the same arrays (``copy=False``: no column is copied)."""
    return _pd().DataFrame(dict(columns), index=index, copy=False)


def _block_frame_builder():
    """A frame builder that hands each column to pandas as its own block, or None.

    ``pd.DataFrame(dict_of_arrays)`` costs ~70 µs a frame (it infers, checks and consolidates),
    which is most of a warm batch of a few hundred tickers. The arrays here are already what
    pandas stores: a 1-D float64 array is a block's ``(1, n)`` view, an ``IntegerArray`` or a
    ``Categorical`` an extension block. Building the blocks and the manager directly, as pyarrow's
    ``to_pandas`` does, costs ~10-15 µs. These are pandas internals (stable from 2.1 through 3.x,
    where ``pd.api.internals.create_dataframe_from_blocks`` names the same path): the builder is
    checked once, against the public constructor, and any pandas where it fails or differs gets
    the public constructor instead.
    """
    pd = _pd()
    try:
        from pandas._libs.internals import BlockPlacement
        from pandas.core.internals.blocks import get_block_type
        from pandas.core.internals.managers import BlockManager

        from_mgr = pd.DataFrame._from_mgr
    except (ImportError, AttributeError):
        return None
    names: dict = {}

    def build(columns: List[Tuple[str, object]], index):
        key = tuple(name for name, _ in columns)
        cols = names.get(key)
        if cols is None:
            cols = names[key] = pd.Index(list(key))  # the labels' dtype as the public constructor infers it
        blocks = []
        for i, (_, values) in enumerate(columns):
            block_values = values.reshape(1, -1) if isinstance(values, np.ndarray) else values
            blocks.append(get_block_type(values.dtype)(block_values, BlockPlacement(slice(i, i + 1)), 2))
        # A new Index object per frame over the shared labels: renaming one frame's columns
        # (`df.columns.name = ...`) touches no other frame.
        mgr = BlockManager(tuple(blocks), [cols.view(), index], verify_integrity=False)
        return from_mgr(mgr, mgr.axes)

    try:
        from pandas.testing import assert_frame_equal

        t = np.array([0, 60_000], dtype="datetime64[ms]")
        sample = [
            ("ticker", pd.Categorical.from_codes(np.array([0, 1], dtype=np.int8), categories=["A", "B"])),
            ("close", np.array([1.5, 2.5])),
            ("transactions", pd.arrays.IntegerArray(np.array([3, 0]), np.array([False, True]))),
        ]
        got = build(sample, _utc_index(t))
        assert_frame_equal(got, _public_frame(sample, _utc_index(t)), check_exact=True)
        if not np.shares_memory(got["close"].to_numpy(), sample[1][1]):
            return None
    except Exception:  # noqa: BLE001 - any pandas whose internals differ takes the public path
        return None
    return build


_builder = None


def _frame(columns: List[Tuple[str, object]], index):
    """A pandas DataFrame over ``columns`` (name, 1-D array) without copying any of them."""
    global _builder
    if _builder is None:
        _builder = _block_frame_builder() or _public_frame
    return _builder(columns, index)


def _pandas(bars, extra: Iterable[Tuple[str, np.ndarray]] = (), ticker=None):
    pd = _pd()
    v = _views(bars)
    cols: List[Tuple[str, object]] = []
    if ticker is not None:
        cols.append(("ticker", ticker))
    for name in FLOAT_COLUMNS:
        cols.append((name, v[name]))
    cols.append(("transactions", pd.arrays.IntegerArray(v["transactions"], v["missing"])))
    cols.extend(extra)
    return _frame(cols, _utc_index(v["timestamp"]))


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
