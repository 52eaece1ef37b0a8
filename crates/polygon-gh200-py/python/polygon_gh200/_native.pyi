"""Types of the Rust extension under polygon_gh200 (private: use the package's API)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

__version__: str
INDICATOR_NAMES: List[str]

class Column:
    """A column owned by Rust; ``numpy.asarray(column)`` views its buffer without a copy."""

    def __len__(self) -> int: ...
    @property
    def __array_interface__(self) -> Dict[str, Any]: ...

class Bars:
    """Bars of one ticker or many: ticker ``k`` owns rows ``offsets[k]:offsets[k + 1]``."""

    tickers: List[str]
    offsets: Column
    timestamp: Column
    open: Column
    high: Column
    low: Column
    close: Column
    volume: Column
    vwap: Column
    transactions: Column
    transactions_missing: Column
    def __len__(self) -> int: ...

class IndicatorColumns:
    def items(self) -> List[Tuple[str, Column]]: ...

class ArrowTable:
    """Bars (and indicators) as an Arrow PyCapsule stream of one record batch."""

    def __init__(self, bars: Bars, indicators: Optional[IndicatorColumns] = None, long: bool = False) -> None: ...
    def __len__(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class Cancel:
    def __init__(self) -> None: ...
    def set(self) -> None: ...
    def is_set(self) -> bool: ...

class _Stream:
    def next(
        self, cancel: Optional[Cancel] = None
    ) -> Optional[Tuple[Bars, Optional[IndicatorColumns], List[Tuple[str, Exception]]]]: ...
    def close(self) -> None: ...

class _Source:
    def __init__(self, overrides: Sequence[Tuple[str, str]], config_file: Optional[str] = None) -> None: ...
    def aggregates(
        self,
        ticker: str,
        multiplier: int,
        timespan: str,
        from_date: str,
        to_date: str,
        cancel: Optional[Cancel] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> Bars: ...
    def batch(
        self,
        tickers: Sequence[str],
        multiplier: int,
        timespan: str,
        from_date: str,
        to_date: str,
        cancel: Optional[Cancel] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> List[Tuple[str, bool, Any]]: ...
    def frame(
        self,
        tickers: Sequence[str],
        multiplier: int,
        timespan: str,
        from_date: str,
        to_date: str,
        cancel: Optional[Cancel] = None,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> Tuple[Bars, List[Tuple[str, Exception]]]: ...
    def stream(
        self,
        tickers: Sequence[str],
        multiplier: int,
        timespan: str,
        from_date: str,
        to_date: str,
        indicators: bool,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> _Stream: ...
    def compute(
        self,
        offsets: Sequence[int],
        timestamp: bytes,
        open: bytes,
        high: bytes,
        low: bytes,
        close: bytes,
        volume: bytes,
        vwap: bytes,
    ) -> IndicatorColumns: ...
    def backend(self) -> str: ...
    def stats(self) -> Dict[str, Any]: ...
    def plan(
        self,
        tickers: Sequence[str],
        multiplier: int,
        timespan: str,
        from_date: str,
        to_date: str,
        *,
        adjusted: bool = True,
        source: str = "auto",
        require_vwap: bool = False,
    ) -> str: ...
    def clear_cache(self) -> int: ...
    def close(self) -> None: ...

class Simulator:
    url: str
    def __init__(
        self,
        latency_ms: int = 0,
        rate_limit: Optional[str] = None,
        fault_rate: float = 0.0,
        api_key: Optional[str] = None,
        fail_tickers: Sequence[str] = ...,
        seed: int = 42,
        jitter_ms: int = 0,
        universe: Optional[int] = None,
    ) -> None: ...
    @staticmethod
    def universe(n: Optional[int] = None) -> List[str]: ...
    def stats(self) -> Dict[str, int]: ...
    def close(self) -> None: ...

SIM_S3_ACCESS_KEY_ID: str
SIM_S3_SECRET: str

def today_new_york() -> str: ...
def new_york_date(ms: int) -> str: ...
def settings() -> List[Tuple[str, str]]: ...
def shard_select(tickers: Sequence[str], k: int, n: int) -> List[str]: ...
def demo(
    tickers: int = 100, from_date: str = "2024-10-01", to_date: str = "2024-10-31", latency_ms: int = 20
) -> Tuple[str, bool, List[str]]: ...
