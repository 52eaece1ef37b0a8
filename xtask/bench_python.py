#!/usr/bin/env python3
"""The official Python client (`massive`) fetching a benchmark's workload, for `cargo xtask bench`.

--workers 1: a plain loop with the client's defaults (as its README shows); --workers N: a thread
pool of N sharing one client with a pool of N connections (as its bulk-download example does).
Prints {"secs": …, "bars": …, "tickers": …} as JSON. With --parquet PATH it also ends as its users
end such a script: the bars as a pandas DataFrame (`pd.DataFrame(aggs)` per ticker, a `ticker`
column, concatenated) written to PATH, the file `polygon-gh200 fetch --out PATH` writes; "secs"
then covers that too, and the caller times the whole process from outside.
"""
import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

from massive import RESTClient


def main():
    p = argparse.ArgumentParser()
    for a in ("--base", "--ca", "--key", "--span", "--from", "--to", "--tickers"):
        p.add_argument(a, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--parquet")
    a = p.parse_args()
    tickers = a.tickers.split(",")
    if a.workers == 1:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca)
    else:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca, num_pools=a.workers, maxsize=a.workers)

    def one(t):
        return list(client.list_aggs(t, 1, a.span, getattr(a, "from"), a.to, limit=50000))

    start = time.perf_counter()
    if a.workers == 1:
        aggs = [one(t) for t in tickers]
    else:
        with ThreadPoolExecutor(max_workers=a.workers) as pool:
            aggs = list(pool.map(one, tickers))
    if a.parquet:
        import pandas as pd

        frames = [pd.DataFrame(x).assign(ticker=t) for t, x in zip(tickers, aggs)]
        pd.concat(frames, ignore_index=True).to_parquet(a.parquet)
    secs = time.perf_counter() - start
    print(json.dumps({"secs": secs, "bars": sum(len(x) for x in aggs), "tickers": len(tickers)}))


if __name__ == "__main__":
    main()
