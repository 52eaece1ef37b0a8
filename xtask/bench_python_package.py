#!/usr/bin/env python3
"""`cargo xtask bench python`: the Python package against the official client, from one process.

The workload is `bench enhanced`'s: 200 tickers x March 2024 minute bars (one request each), on
the simulator process that xtask starts (TLS, 20 ms a response). Every row ends in DataFrames the
way its users build them: the official client's `pd.DataFrame(aggs)` per ticker, ours
`get_aggregates_batch` (a dict of DataFrames) or `get_aggregates_frame` (one long frame).

Rows: the official client sequential and with a 50-thread pool; ours cold (an empty cache) and
warm (a new data source, as a rerun of the notebook: from disk, from Redis); the cost of the
DataFrames on a warm batch of over a million bars (the native call alone against the same call
with frames); and the peak memory of a warm long frame (a fresh process) against the bars' own
bytes. Prints a Markdown table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

import polygon_gh200 as pg

TICKERS = 200
FROM, TO = "2024-03-01", "2024-03-31"
BYTES_PER_BAR = 8 * 8  # t, o, h, l, c, v, vw, n: eight 8-byte columns


def timed(f):
    start = time.perf_counter()
    r = f()
    return time.perf_counter() - start, r


def official(a, tickers, workers):
    from massive import RESTClient

    if workers == 1:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca)
    else:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca, num_pools=workers, maxsize=workers)

    def one(t):
        return pd.DataFrame(list(client.list_aggs(t, 1, "minute", FROM, TO, limit=50000)))

    if workers == 1:
        return {t: one(t) for t in tickers}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(tickers, pool.map(one, tickers)))


def source(a, cache_dir, **kw):
    settings = dict(base_url=a.base, api_key=a.key, ca_cert=a.ca, cache_dir=cache_dir, cache_namespace="bench-python")
    settings["redis_url"] = a.redis if a.redis != "none" else "off"
    settings.update(kw)
    return pg.PolygonDataSource(**settings)


def bars_of(result):
    if isinstance(result, dict):
        return sum(len(df) for df in result.values())
    return len(result)


MEMORY_CHILD = """
import json, sys
import polygon_gh200 as pg


def hwm_kib():
    # The high-water mark of this process's own memory (VmHWM; ru_maxrss would carry the
    # parent's peak over fork and exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


a = json.loads(sys.argv[1])
c = pg.PolygonDataSource(**a["settings"])
c.get_aggregates("AAPL", 1, "minute", a["from"], a["from"])  # everything loaded and set up
before = hwm_kib()
df = c.{call}(a["tickers"], from_date=a["from"], to_date=a["to"])
after = hwm_kib()
rows = len(df) if not isinstance(df, dict) else sum(len(x) for x in df.values())
print(json.dumps({{"peak_kib": after - before, "rows": rows}}))
"""


def memory(a, cache_dir, tickers, call):
    settings = dict(
        base_url=a.base, api_key=a.key, ca_cert=a.ca, cache_dir=cache_dir, cache_namespace="bench-python", redis_url="off"
    )
    arg = json.dumps({"settings": settings, "tickers": tickers, "from": FROM, "to": TO})
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD.format(call=call), arg], capture_output=True, text=True, check=True
    )
    r = json.loads(out.stdout)
    own = r["rows"] * BYTES_PER_BAR
    return {"call": call, "rows": r["rows"], "peak_bytes": r["peak_kib"] * 1024, "bars_bytes": own,
            "ratio": r["peak_kib"] * 1024 / own}


def main():
    p = argparse.ArgumentParser()
    for arg in ("--base", "--ca", "--key", "--redis", "--out"):
        p.add_argument(arg, required=True)
    a = p.parse_args()
    tickers = pg.Simulator.tickers(TICKERS)  # the same tickers as `bench enhanced`
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-python-") as tmp:
        cache_dir = os.path.join(tmp, "cache")
        # The simulator's body caches (gzip for us, plain for the official client), untimed.
        with source(a, cache_dir, redis_url="off", cache_disk=False) as c:
            c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO)
        official(a, tickers, 50)

        def row(name, secs, result):
            rows.append({"row": name, "secs": secs, "bars": bars_of(result)})

        secs, r = timed(lambda: official(a, tickers, 1))
        row("massive (official), sequential, pd.DataFrame(aggs) each", secs, r)
        secs, r = timed(lambda: official(a, tickers, 50))
        row("massive (official), 50-thread pool, pd.DataFrame(aggs) each", secs, r)
        del r

        # Cold: a new data source each (as a new process: its rate limiter starts full; the
        # default 100/s would otherwise pace the second row's 200 requests), the cache emptied.
        for name in ("batch", "frame"):
            with source(a, cache_dir) as c:
                c.clear_cache()
            with source(a, cache_dir) as c:
                call = getattr(c, f"get_aggregates_{name}")
                secs, r = timed(lambda: call(tickers, from_date=FROM, to_date=TO))
                row(f"polygon_gh200 get_aggregates_{name}, cold (defaults)", secs, r)
                del r
        # Warm: a new data source, as a rerun of the script or notebook (memory tier empty).
        for tier, kw in [("disk", dict(redis_url="off")), ("Redis", dict(cache_disk=False))]:
            if tier == "Redis" and a.redis == "none":
                continue
            with source(a, cache_dir, **kw) as c:
                secs, r = timed(lambda: c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO))
                row(f"polygon_gh200 get_aggregates_batch, warm from {tier} (a new data source)", secs, r)
                del r
            with source(a, cache_dir, **kw) as c:
                secs, r = timed(lambda: c.get_aggregates_frame(tickers, from_date=FROM, to_date=TO))
                row(f"polygon_gh200 get_aggregates_frame, warm from {tier} (a new data source)", secs, r)
                del r
        # The DataFrames' cost on a warm batch (memory tier: what remains is conversion): the
        # native call alone (Rust columns handed over, no frames) against the whole call.
        with source(a, cache_dir, redis_url="off") as c:
            c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO)
            native, full, long_native, long_full = [], [], [], []
            for _ in range(5):
                native.append(timed(lambda: c._src.batch(tickers, 1, "minute", FROM, TO, None))[0])
                full.append(timed(lambda: c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO))[0])
                long_native.append(timed(lambda: c._src.frame(tickers, 1, "minute", FROM, TO, None))[0])
                long_full.append(timed(lambda: c.get_aggregates_frame(tickers, from_date=FROM, to_date=TO))[0])
            bars = bars_of(c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO))
        conversion = {
            "bars": bars,
            "batch_native_secs": min(native),
            "batch_secs": min(full),
            "batch_overhead": min(full) / min(native) - 1,
            "frame_native_secs": min(long_native),
            "frame_secs": min(long_full),
            "frame_overhead": min(long_full) / min(long_native) - 1,
        }
        mem = [memory(a, cache_dir, tickers, call) for call in ("get_aggregates_frame", "get_aggregates_batch")]
        with source(a, cache_dir) as c:
            c.clear_cache()

    best_official = min(r["secs"] for r in rows if r["row"].startswith("massive"))
    for r in rows:
        r["vs_best_official"] = best_official / r["secs"]
    lines = [
        f"workload: {TICKERS} tickers x {FROM}..{TO} minute bars (one request each), the simulator process "
        "(TLS, 20 ms a response); every row ends in pandas DataFrames",
        "",
        "| row | wall s | bars | vs the better official run |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['row']} | {r['secs']:.3f} | {r['bars']} | {r['vs_best_official']:.1f}x |" for r in rows]
    c = conversion
    lines += [
        "",
        f"DataFrames on a warm batch of {c['bars']} bars (memory tier, best of 5): get_aggregates_batch "
        f"{c['batch_secs']:.3f} s vs the native call alone {c['batch_native_secs']:.3f} s "
        f"(+{100 * c['batch_overhead']:.1f} %); get_aggregates_frame {c['frame_secs']:.3f} s vs "
        f"{c['frame_native_secs']:.3f} s (+{100 * c['frame_overhead']:.1f} %)",
    ]
    for m in mem:
        lines.append(
            f"peak memory of a warm {m['call']} (a fresh process, from disk): {m['peak_bytes'] / 2**20:.0f} MiB "
            f"for {m['rows']} bars of {m['bars_bytes'] / 2**20:.0f} MiB own bytes: {m['ratio']:.2f}x"
        )
    table = "\n".join(lines)
    print(table)
    with open(a.out, "w") as f:
        json.dump({"mode": "python", "rows": rows, "conversion": conversion, "memory": mem, "table": table}, f, indent=1)


if __name__ == "__main__":
    main()
