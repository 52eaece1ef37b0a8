"""polygon_gh200: Polygon.io (Massive) market data for thousands of tickers, at Rust speed.

The seed's usage runs as written::

    from polygon_gh200 import PolygonDataSource
    client = PolygonDataSource()
    symbols = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]
    results = client.get_aggregates_batch(symbols, timespan="minute")
    for symbol, df in results.items():
        print(f"{symbol}: {len(df)} data points")

Everything runs in Rust (the pooled, rate-limited, retrying transport; the memory, disk and
Redis cache; the parallel fetcher; the indicator backends) with the GIL released; columns reach
pandas, polars and Arrow without per-element copies. Without an API key, :class:`Simulator`
serves the same API locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import functools
import json
import os
import warnings
from typing import Any, AsyncIterator, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _frames, _native, errors
from .errors import *  # noqa: F403 (the exception classes, re-exported: see __all__)
from .errors import ArgumentError, BatchError, ConfigError, PolygonError

__version__ = _native.__version__

__all__ = [
    "PolygonDataSource",
    "BatchResult",
    "Chunk",
    "Simulator",
    "FetchWarning",
    "INDICATORS",
    *errors.__all__,
]

#: The indicator columns ``compute_indicators`` returns, in order (design.md's table).
INDICATORS = tuple(_native.INDICATOR_NAMES)

DateLike = Union[str, _dt.date, _dt.datetime, None]

#: keyword -> variable (``api_key`` -> ``POLYGON_API_KEY``).
_SETTINGS: Dict[str, str] = dict(_native.settings())


class FetchWarning(UserWarning):
    """Emitted once per batch in which some tickers failed; it names them.

    >>> import warnings
    >>> warnings.simplefilter("error", FetchWarning)  # doctest: +SKIP
    """


def _setting(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(f"{name}={value!r} is invalid: expected a string, a number or a bool")


def _date(parameter: str, value: DateLike) -> Optional[str]:
    """``value`` as ``YYYY-MM-DD``: a timezone-aware datetime counts in New York (Polygon's
    day), a naive one by its own calendar date."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, _dt.datetime):  # pandas.Timestamp is one
        if value.tzinfo is not None and value.utcoffset() is not None:
            return _native.new_york_date(int(value.timestamp() * 1000))
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return _date(parameter, value.astype("datetime64[D]").item())
    raise ArgumentError(
        f"{parameter}: {value!r} is not a date: expected 'YYYY-MM-DD', datetime.date, datetime.datetime or pandas.Timestamp"
    )


def _range(from_date: DateLike, to_date: DateLike):
    to = _date("to_date", to_date) or _native.today_new_york()
    frm = _date("from_date", from_date)
    if frm is None:
        try:
            frm = (_dt.date.fromisoformat(to) - _dt.timedelta(days=30)).isoformat()
        except ValueError:
            frm = to  # the native call names the bad to_date
    return frm, to


def _tickers(tickers: Union[str, Iterable[str]], shard: Optional[Sequence[int]] = None) -> List[str]:
    if isinstance(tickers, str):
        out = [tickers]
    else:
        out = []
        for t in tickers:
            if not isinstance(t, str):
                raise ArgumentError(f"tickers: {t!r} is not a string")
            out.append(t)
    if shard is None:
        return out
    try:
        k, n = (int(x) for x in shard)
    except (TypeError, ValueError):
        raise ArgumentError(f"shard: {shard!r} is not a (k, n) pair of whole numbers") from None
    if k < 0 or n < 1:
        raise ArgumentError(f"shard: {shard!r}: expected (k, n) with n >= 1 and k from 0 to n - 1")
    return _native.shard_select(out, k, n)


def _check(multiplier: int, output: str, adjusted: bool, source: str = "auto", require_vwap: bool = False):
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise ArgumentError(f"multiplier: {multiplier!r} is not a whole number of 1 or more")
    if not isinstance(adjusted, bool):
        raise ArgumentError(f"adjusted: {adjusted!r} is not True or False")
    if not isinstance(require_vwap, bool):
        raise ArgumentError(f"require_vwap: {require_vwap!r} is not True or False")
    if not isinstance(source, str):
        raise ArgumentError(f"source: {source!r} is not one of 'auto', 'rest', 'flatfiles'")
    _frames.require(output)


def _warn(errors: Mapping[str, BaseException], total: int, stacklevel: int = 3):
    if errors:
        names = ", ".join(list(errors)[:20]) + (", ..." if len(errors) > 20 else "")
        first = next(iter(errors.values()))
        warnings.warn(
            f"{len(errors)} of {total} tickers failed: {names} (see .errors; first: {first})",
            FetchWarning,
            stacklevel=stacklevel,
        )


class BatchResult(dict):
    """A ``dict`` of ticker to DataFrame for the tickers that succeeded, in the order given.

    ``.errors`` maps every ticker that failed to its exception (a :class:`PolygonError`
    subclass); no ticker is ever dropped silently.

    >>> results = client.get_aggregates_batch(["AAPL", "NOPE"])  # doctest: +SKIP
    >>> results.errors["NOPE"]                                     # doctest: +SKIP
    NotFoundError('NOPE: HTTP 404 ...')
    """

    def __init__(self, results=(), errors: Optional[Mapping[str, PolygonError]] = None):
        super().__init__(results)
        self.errors: Dict[str, PolygonError] = dict(errors or {})

    def __repr__(self) -> str:
        return f"BatchResult({len(self)} tickers, {len(self.errors)} errors)"


class Chunk:
    """One streamed chunk: ``.frame``, the long frame of up to ``BATCH_SIZE`` tickers (with a
    ``ticker`` column, and the indicator columns when asked), ``.tickers``, the tickers in it, and
    ``.errors``, the chunk's failed tickers with their exceptions.

    >>> for chunk in client.stream(tickers):  # doctest: +SKIP
    ...     print(chunk.tickers[:3], len(chunk.frame), list(chunk.errors))
    """

    __slots__ = ("frame", "errors", "tickers")

    def __init__(self, frame, errors: Dict[str, PolygonError], tickers: List[str]):
        self.frame = frame
        self.errors = errors
        self.tickers = tickers

    def __repr__(self) -> str:
        return f"Chunk({len(self.tickers)} tickers, {len(self.frame)} rows, {len(self.errors)} errors)"


class _ChunkIterator:
    def __init__(self, native_stream, output: str, cancel=None):
        self._s = native_stream
        self._output = output
        self._cancel = cancel

    def __iter__(self):
        return self

    def _next(self, cancel=None) -> Optional[Chunk]:
        got = self._s.next(cancel or self._cancel)
        if got is None:
            return None
        bars, indicators, errors = got
        frame = _frames.long_frame(bars, self._output, indicators)
        return Chunk(frame, dict(errors), list(bars.tickers))

    def __next__(self) -> Chunk:
        c = self._next()
        if c is None:
            raise StopIteration
        return c

    def close(self):
        """Stops fetching (leaving a loop early does it too).

        >>> it = client.stream(tickers); next(it); it.close()  # doctest: +SKIP
        """
        self._s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self._s.close()


class PolygonDataSource:
    """The whole pipeline behind one handle.

    Settings come from the environment (``POLYGON_API_KEY``, ``REDIS_URL``, ``MAX_WORKERS``, ...,
    as design.md lists them), then the TOML file ``config`` (or ``POLYGON_GH200_CONFIG``), then
    keyword arguments named like the variables in lower case (``api_key=``, ``base_url=``,
    ``redis_url=``, ``max_workers=``, ``cache_dir=``, ...). A bad value raises
    :class:`ConfigError` naming the setting.

    >>> with PolygonDataSource(base_url=sim.url, api_key="k") as client:  # doctest: +SKIP
    ...     df = client.get_aggregates("AAPL", timespan="minute", from_date="2024-10-01", to_date="2024-10-02")
    """

    def __init__(self, config: Union[str, os.PathLike, None] = None, **settings: Any):
        overrides = []
        for name, value in settings.items():
            variable = _SETTINGS.get(name)
            if variable is None:
                raise TypeError(
                    f"PolygonDataSource() got an unexpected setting {name!r}; settings are: {', '.join(sorted(_SETTINGS))}"
                )
            if value is None:
                continue
            overrides.append((variable, _setting(name, value)))
        self._src = _native._Source(overrides, os.fspath(config) if config is not None else None)
        self._closed = False

    # ---- lifecycle ----

    def close(self) -> None:
        """Cancels work in flight, stops the pipeline and closes Redis. Idempotent.

        >>> client = PolygonDataSource(redis_url="off", cache_disk=False)
        >>> client.close(); client.close()
        """
        if not self._closed:
            self._closed = True
            self._src.close()

    def __enter__(self) -> "PolygonDataSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PolygonDataSource({self._src!r})"

    @property
    def backend(self) -> str:
        """The indicator backend's name (``cpu-avx2``, ``cuda``, ...), built on first use.

        >>> PolygonDataSource(gpu_backend="cpu").backend.startswith("cpu")  # doctest: +SKIP
        True
        """
        return self._src.backend()

    def stats(self) -> Dict[str, Any]:
        """Counters: tickers done and failed, bars, pages, cache hits per tier and loads.

        >>> client.stats()["loads"]  # doctest: +SKIP
        5
        """
        return self._src.stats()

    def clear_cache(self) -> int:
        """Forgets this configuration's cached bars (its ``cache_namespace``) in every tier:
        memory, disk and Redis. Other namespaces, and other keys in the same Redis, are left
        alone. Returns how many entries were removed.

        >>> client.clear_cache()  # doctest: +SKIP
        12
        """
        return self._src.clear_cache()

    # ---- fetching ----

    def get_aggregates(
        self,
        ticker: str,
        multiplier: int = 1,
        timespan: str = "day",
        from_date: DateLike = None,
        to_date: DateLike = None,
        limit: Optional[int] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
        output: str = "pandas",
        _cancel=None,
    ):
        """One ticker's bars as a DataFrame: a ``DatetimeIndex`` named ``timestamp`` (bar
        start, UTC) and the columns ``open, high, low, close, volume, vwap, transactions``.

        ``to_date`` defaults to today in New York, ``from_date`` to 30 days before it. ``limit``
        is accepted for the seed's sake and never truncates: every page is fetched.
        ``adjusted=False`` gives the bars as traded (prices before a split not divided by its
        ratio, volumes not multiplied); they are fetched and cached apart from adjusted ones.
        ``source`` is ``"auto"`` (the cheapest of REST and Massive's flat files, per month; files
        need ``s3_access_key_id`` and ``s3_secret_access_key``), ``"rest"`` or ``"flatfiles"`` (a
        refusal of the files is then an error, never a silent switch); bars from files carry no
        VWAP (NaN), and ``require_vwap=True`` keeps a request off them. :meth:`plan` says what a
        request would cost from each source.

        >>> df = client.get_aggregates("AAPL", timespan="minute", from_date="2024-10-01", to_date="2024-10-01")  # doctest: +SKIP
        >>> df.columns.tolist()  # doctest: +SKIP
        ['open', 'high', 'low', 'close', 'volume', 'vwap', 'transactions']
        """
        del limit
        _check(multiplier, output, adjusted, source, require_vwap)
        frm, to = _range(from_date, to_date)
        bars = self._src.aggregates(ticker, multiplier, timespan, frm, to, _cancel, adjusted=adjusted, source=source, require_vwap=require_vwap)
        return _frames.series_frame(bars, output)

    def get_aggregates_batch(
        self,
        tickers: Union[str, Iterable[str]],
        multiplier: int = 1,
        timespan: str = "minute",
        from_date: DateLike = None,
        to_date: DateLike = None,
        limit: Optional[int] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
        output: str = "pandas",
        strict: bool = False,
        shard: Optional[Sequence[int]] = None,
        _cancel=None,
    ) -> BatchResult:
        """Every ticker at once (fetched in parallel, cached): a :class:`BatchResult`, the dict
        of ticker to DataFrame for those that succeeded, ``.errors`` for the others. Failures
        also emit one :class:`FetchWarning` naming them; ``strict=True`` raises
        :class:`BatchError` instead. A ticker listed twice is fetched once. ``shard=(k, n)``
        takes only worker ``k``'s share of ``n`` (rendezvous hashing: ``n`` workers given the same
        list split it between them without talking, exactly as ``polygon-gh200 fetch --shard k/n``).

        >>> results = client.get_aggregates_batch(["AAPL", "MSFT"], timespan="minute")  # doctest: +SKIP
        >>> {t: len(df) for t, df in results.items()}  # doctest: +SKIP
        {'AAPL': 19162, 'MSFT': 19140}
        """
        del limit
        _check(multiplier, output, adjusted, source, require_vwap)
        frm, to = _range(from_date, to_date)
        names = _tickers(tickers, shard)
        rows = self._src.batch(names, multiplier, timespan, frm, to, _cancel, adjusted=adjusted, source=source, require_vwap=require_vwap)
        ok, errors = {}, {}
        for ticker, good, obj in rows:
            if good:
                ok[ticker] = _frames.series_frame(obj, output)
            else:
                errors[ticker] = obj
        return self._finish(BatchResult(ok, errors), len(rows), strict)

    def get_aggregates_frame(
        self,
        tickers: Union[str, Iterable[str]],
        multiplier: int = 1,
        timespan: str = "minute",
        from_date: DateLike = None,
        to_date: DateLike = None,
        limit: Optional[int] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
        output: str = "pandas",
        strict: bool = False,
        shard: Optional[Sequence[int]] = None,
        _cancel=None,
    ):
        """Every ticker's bars in one long DataFrame with a categorical ``ticker`` column (the
        fast shape for thousands of tickers), in the order given. ``.attrs["errors"]`` (pandas)
        holds the failed tickers' exceptions; they are also warned about, or raised with
        ``strict=True``.

        >>> df = client.get_aggregates_frame(["AAPL", "MSFT"], from_date="2024-10-01", to_date="2024-10-31")  # doctest: +SKIP
        >>> df.groupby("ticker", observed=True).size()  # doctest: +SKIP
        """
        del limit
        _check(multiplier, output, adjusted, source, require_vwap)
        frm, to = _range(from_date, to_date)
        names = _tickers(tickers, shard)
        bars, errors = self._src.frame(names, multiplier, timespan, frm, to, _cancel, adjusted=adjusted, source=source, require_vwap=require_vwap)
        errors = dict(errors)
        frame = _frames.long_frame(bars, output)
        if output == "pandas":
            frame.attrs["errors"] = errors
        if errors and strict:
            raise BatchError(f"{len(errors)} of {len(set(names))} tickers failed: {', '.join(errors)}", frame, errors)
        _warn(errors, len(set(names)))
        return frame

    def stream(
        self,
        tickers: Union[str, Iterable[str]],
        multiplier: int = 1,
        timespan: str = "minute",
        from_date: DateLike = None,
        to_date: DateLike = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
        output: str = "pandas",
        indicators: bool = False,
        shard: Optional[Sequence[int]] = None,
    ) -> Iterator[Chunk]:
        """Yields :class:`Chunk` objects of up to ``BATCH_SIZE`` tickers while the next ones are
        fetched (and their indicators computed, with ``indicators=True``; the session VWAP is then
        ``session_vwap``). At most ``QUEUE_SIZE`` chunks wait, so memory stays bounded however
        many tickers are asked for. Leaving the loop early stops fetching.

        >>> for chunk in client.stream(tickers, from_date="2024-10-01", to_date="2024-10-31", indicators=True):  # doctest: +SKIP
        ...     chunk.frame.to_parquet(f"{chunk.tickers[0]}.parquet")
        """
        _check(multiplier, output, adjusted, source, require_vwap)
        frm, to = _range(from_date, to_date)
        native = self._src.stream(
            _tickers(tickers, shard), multiplier, timespan, frm, to, bool(indicators), adjusted=adjusted,
            source=source, require_vwap=require_vwap,
        )
        return _ChunkIterator(native, output)

    def plan(
        self,
        tickers: Union[str, Iterable[str]],
        multiplier: int = 1,
        timespan: str = "minute",
        from_date: DateLike = None,
        to_date: DateLike = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> dict:
        """A dry run of a fetch, as ``polygon-gh200 plan --format json`` prints it: per calendar
        unit, what REST (requests, bytes, seconds at the rate limit) and the flat files (files,
        bytes, seconds) would cost for the chunks not cached, what is cached, and the choice.
        Asks for no bars (the flat files are listed).

        >>> p = client.plan(["AAPL", "MSFT"], from_date="2024-06-01", to_date="2024-06-30")  # doctest: +SKIP
        >>> p["units"][0]["source"], p["chosen"]["requests"]  # doctest: +SKIP
        ('rest', 2)
        """
        _check(multiplier, "pandas", adjusted, source, require_vwap)
        frm, to = _range(from_date, to_date)
        names = _tickers(tickers, None)
        return json.loads(
            self._src.plan(names, multiplier, timespan, frm, to, adjusted=adjusted, source=source, require_vwap=require_vwap)
        )

    def compute_indicators(self, df):
        """The indicator columns of design.md (``log_return, sma_20, ema_20, std_20,
        bb_upper_20, bb_lower_20, rsi_14, vwap``) for a per-ticker frame or a long frame with a
        ``ticker`` column, on the same index, computed per ticker on the configured backend.

        >>> ind = client.compute_indicators(df)  # doctest: +SKIP
        >>> ind["sma_20"].iloc[19] == df["close"].iloc[:20].mean()  # doctest: +SKIP
        True
        """
        return _indicators(self._src, df)

    def _finish(self, result: BatchResult, total: int, strict: bool) -> BatchResult:
        if result.errors and strict:
            raise BatchError(
                f"{len(result.errors)} of {total} tickers failed: {', '.join(result.errors)}",
                result,
                result.errors,
            )
        _warn(result.errors, total, stacklevel=4)
        return result

    # ---- asyncio ----

    async def aget_aggregates_batch(self, tickers, *args, **kwargs) -> BatchResult:
        """:meth:`get_aggregates_batch` for code inside an event loop: the work runs on a
        thread (the GIL released), the loop keeps running, and cancelling the task cancels the
        requests in flight.

        >>> results = await client.aget_aggregates_batch(["AAPL", "MSFT"])  # doctest: +SKIP
        """
        return await _in_thread(self.get_aggregates_batch, tickers, *args, **kwargs)

    async def aget_aggregates_frame(self, tickers, *args, **kwargs):
        """:meth:`get_aggregates_frame` for code inside an event loop (see
        :meth:`aget_aggregates_batch`).

        >>> df = await client.aget_aggregates_frame(["AAPL", "MSFT"])  # doctest: +SKIP
        """
        return await _in_thread(self.get_aggregates_frame, tickers, *args, **kwargs)

    async def astream(self, tickers, *args, **kwargs) -> AsyncIterator[Chunk]:
        """:meth:`stream` as an async iterator; cancelling the consuming task stops fetching.

        >>> async for chunk in client.astream(tickers):  # doctest: +SKIP
        ...     process(chunk.frame)
        """
        it = self.stream(tickers, *args, **kwargs)
        loop = asyncio.get_running_loop()
        try:
            while True:
                cancel = _native.Cancel()
                fut = loop.run_in_executor(None, it._next, cancel)
                try:
                    chunk = await asyncio.shield(fut)
                except asyncio.CancelledError:
                    cancel.set()
                    with contextlib.suppress(BaseException):
                        await fut
                    raise
                if chunk is None:
                    return
                yield chunk
        finally:
            it.close()


async def _in_thread(fn, *args, **kwargs):
    cancel = _native.Cancel()
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, functools.partial(fn, *args, _cancel=cancel, **kwargs))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(BaseException):
            await fut
        raise


def _column(df, name: str) -> np.ndarray:
    if name not in df.columns:
        if name == "vwap":
            return np.full(len(df), np.nan)
        raise ArgumentError(f"df: no {name!r} column (compute_indicators needs open, high, low, close, volume)")
    col = df[name]
    values = col.to_numpy() if hasattr(col, "to_numpy") else np.asarray(col)
    try:
        return np.ascontiguousarray(values, dtype="<f8")
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"df: column {name!r} is not numeric ({e})") from None


def _timestamps_ms(df) -> np.ndarray:
    pd = _frames._pd()
    if isinstance(df, pd.DataFrame):
        idx = df.index
        if not isinstance(idx, pd.DatetimeIndex) and "timestamp" in df.columns:
            idx = pd.DatetimeIndex(df["timestamp"])
        if isinstance(idx, pd.DatetimeIndex):
            if idx.tz is None:
                idx = idx.tz_localize("UTC")
            return np.ascontiguousarray(idx.as_unit("ms").asi8 if hasattr(idx, "as_unit") else idx.asi8 // 1_000_000)
        raise ArgumentError("df: needs a DatetimeIndex or a 'timestamp' column")
    # polars
    ts = df["timestamp"]
    return np.ascontiguousarray(ts.dt.epoch("ms").to_numpy(), dtype="<i8")


def _indicators(src, df):
    pd = _frames._pd()
    is_pandas = isinstance(df, pd.DataFrame)
    if not is_pandas and not hasattr(df, "to_arrow"):
        raise ArgumentError(f"df: {type(df).__name__} is not a pandas or polars DataFrame")
    n = len(df)
    t = _timestamps_ms(df)
    cols = [_column(df, c) for c in ("open", "high", "low", "close", "volume", "vwap")]
    order = None
    if "ticker" in df.columns:
        codes, _ = pd.factorize(np.asarray(df["ticker"]))
        # Series by ticker (numbered by first appearance), each in time order; rows already so
        # ordered (what get_aggregates_frame returns) are not moved.
        if n and (np.any(np.diff(codes) < 0) or np.any((np.diff(t) <= 0) & (np.diff(codes) == 0))):
            order = np.lexsort((t, codes))
            codes = codes[order]
            t = t[order]
            cols = [c[order] for c in cols]
        bounds = np.flatnonzero(np.diff(codes)) + 1
        offsets = [0, *bounds.tolist(), n] if n else [0]
    else:
        offsets = [0, n] if n else [0]
    ind = src.compute(offsets, t.astype("<i8").tobytes(), *[c.tobytes() for c in cols])
    arrays = {name: np.asarray(col) for name, col in ind.items()}
    if order is not None:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        arrays = {k: v[inverse] for k, v in arrays.items()}
    if is_pandas:
        return pd.DataFrame(arrays, index=df.index, copy=False)
    import polars as pl

    return pl.DataFrame([pl.Series(k, v) for k, v in arrays.items()])


class Simulator:
    """The Polygon REST API simulator, in this process: for keyless notebooks, demos and tests.

    ``latency_ms`` per response, ``rate_limit`` (``"100/s"``, ``"5/min"``: 429 beyond it),
    ``fault_rate`` (the share of requests answered 500), ``api_key`` (the only key accepted;
    any when ``None``), ``fail_tickers`` (tickers answered 500 every time), ``universe`` (list
    only the first N tickers, on every endpoint and in the flat files). Massive's flat-file
    store is served at the same ``.url`` (bucket ``flatfiles``; ``S3_ACCESS_KEY_ID`` and
    ``S3_SECRET`` are its credentials, and ``s3_settings`` the keyword arguments that point a
    ``PolygonDataSource`` at it).

    >>> with Simulator(latency_ms=20) as sim:
    ...     with PolygonDataSource(base_url=sim.url, api_key="demo", redis_url="off", cache_disk=False) as client:
    ...         df = client.get_aggregates("AAPL", timespan="minute", from_date="2024-10-01", to_date="2024-10-01")
    ...         print(len(df) > 0)
    True
    """

    def __init__(
        self,
        latency_ms: int = 0,
        rate_limit: Optional[str] = None,
        fault_rate: float = 0.0,
        *,
        api_key: Optional[str] = None,
        fail_tickers: Sequence[str] = (),
        seed: int = 42,
        jitter_ms: int = 0,
        universe: Optional[int] = None,
    ):
        self._sim = _native.Simulator(
            latency_ms, rate_limit, fault_rate, api_key, list(fail_tickers), seed, jitter_ms, universe
        )

    S3_ACCESS_KEY_ID: str = _native.SIM_S3_ACCESS_KEY_ID
    S3_SECRET: str = _native.SIM_S3_SECRET

    @property
    def s3_settings(self) -> Dict[str, str]:
        """``PolygonDataSource`` keyword arguments for this simulator's flat-file store.

        >>> with Simulator(universe=10) as sim:
        ...     sorted(sim.s3_settings)
        ['s3_access_key_id', 's3_endpoint', 's3_secret_access_key']
        """
        return {
            "s3_access_key_id": self.S3_ACCESS_KEY_ID,
            "s3_secret_access_key": self.S3_SECRET,
            "s3_endpoint": self.url,
        }

    @staticmethod
    def tickers(n: Optional[int] = None) -> List[str]:
        """The simulator's tickers (the first ``n``, or all), in its order.

        >>> Simulator.tickers(3)
        ['AAA', 'AABU', 'AABX']
        >>> "AAPL" in Simulator.tickers()
        True
        """
        return _native.Simulator.universe(n)

    @property
    def url(self) -> str:
        """The base URL to give ``PolygonDataSource(base_url=...)`` (or the official client).

        >>> with Simulator() as sim:
        ...     sim.url.startswith("http://127.0.0.1:")
        True
        """
        return self._sim.url

    def stats(self) -> Dict[str, int]:
        """Requests served so far (``requests``, ``aggs``, ``splits``; flat-file listings
        ``s3_lists`` and downloads ``s3_gets``), connections, most in flight.

        >>> with Simulator() as sim:
        ...     sim.stats()["requests"]
        0
        """
        return self._sim.stats()

    def close(self) -> None:
        """Stops serving. Idempotent.

        >>> sim = Simulator(); sim.close(); sim.close()
        """
        self._sim.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r})"
