"""The exceptions polygon_gh200 raises.

Every one is a :class:`PolygonError`; ``str()`` of it is the message, the same text the
``polygon-gh200`` command prints, and it never holds the API key. The classes match the Rust
error predicates (``is_auth``, ``is_rate_limited``, ...), so ``except RateLimitError`` catches
exactly what the transport gave up on after its retries because of HTTP 429.

>>> from polygon_gh200.errors import PolygonError, ConfigError
>>> issubclass(ConfigError, ValueError) and issubclass(ConfigError, PolygonError)
True
"""

from __future__ import annotations

from typing import Dict

__all__ = [
    "PolygonError",
    "ConfigError",
    "ArgumentError",
    "AuthError",
    "RateLimitError",
    "NotFoundError",
    "NetworkError",
    "ServerError",
    "DataError",
    "CacheError",
    "IndicatorError",
    "CancelledError",
    "ShutDownError",
    "BatchError",
]


class PolygonError(Exception):
    """Base class of every polygon_gh200 error."""


class ConfigError(PolygonError, ValueError):
    """A setting is invalid: the message names the variable, the value (secrets redacted) and
    what it accepts, e.g. ``MAX_WORKERS="0" is invalid: expected a whole number, 1 or more``."""


class ArgumentError(PolygonError, ValueError):
    """An argument is invalid (a malformed ticker, a date that is not ``YYYY-MM-DD``, an unknown
    timespan, ``from_date`` after ``to_date``); the message names the parameter."""


class AuthError(PolygonError):
    """The API refused the key (HTTP 401 or 403)."""


class RateLimitError(PolygonError):
    """HTTP 429 persisted through the retries, or the server asked to wait longer than the
    request's deadline."""


class NotFoundError(PolygonError):
    """HTTP 404: the endpoint or ticker does not exist."""


class NetworkError(PolygonError):
    """The connection failed, timed out, or broke off mid-body (after the retries)."""


class ServerError(PolygonError):
    """HTTP 5xx persisted through the retries."""


class DataError(PolygonError):
    """The server's data was malformed or broke an invariant (a page that is not an aggregates
    response, low above high, a pagination loop)."""


class CacheError(PolygonError):
    """The cache could not be set up (an unparsable Redis URL, an unusable cache directory)."""


class IndicatorError(PolygonError):
    """The indicator backend is unavailable (``GPU_BACKEND=cuda`` without a device) or failed."""


class CancelledError(PolygonError):
    """The call was cancelled (its asyncio task was cancelled, or the data source closed)."""


class ShutDownError(PolygonError):
    """The data source was closed."""


class BatchError(PolygonError):
    """Raised by ``strict=True`` batches when any ticker failed.

    ``.results`` holds the tickers that succeeded (a :class:`~polygon_gh200.BatchResult`),
    ``.errors`` maps each failed ticker to its exception.
    """

    def __init__(self, message: str, results: object = None, errors: Dict[str, PolygonError] | None = None):
        super().__init__(message)
        self.results = results
        self.errors: Dict[str, PolygonError] = dict(errors or {})
