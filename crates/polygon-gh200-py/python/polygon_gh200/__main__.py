"""``python -m polygon_gh200 demo``: the same demo as ``polygon-gh200 demo`` (the facade's), no
key, Redis or GPU needed."""

from __future__ import annotations

import argparse
import sys

from . import _native
from .errors import PolygonError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m polygon_gh200")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="the whole pipeline against the in-process simulator, cold then warm")
    d.add_argument("--tickers", type=int, default=100, help="how many tickers of the simulator's universe")
    d.add_argument("--from", dest="from_date", default="2024-10-01", help="first day")
    d.add_argument("--to", dest="to_date", default="2024-10-31", help="last day (inclusive)")
    d.add_argument("--latency-ms", type=int, default=20, help="simulated latency per response, ms")
    a = p.parse_args(argv)
    try:
        report, ok, failures = _native.demo(a.tickers, a.from_date, a.to_date, a.latency_ms)
    except ValueError as e:  # ConfigError, ArgumentError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PolygonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for f in failures:
        print(f"failed: {f}", file=sys.stderr)
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
