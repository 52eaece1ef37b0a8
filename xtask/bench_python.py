#!/usr/bin/env python3
"""The official Python client (`massive`) fetching a benchmark's workload, for `cargo xtask bench`.

--workers 1: a plain loop with the client's defaults (as its README shows); --workers N: a thread
pool of N sharing one client with a pool of N connections (as its bulk-download example does).
Prints {"secs": …, "bars": …, "tickers": …} as JSON.
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
    a = p.parse_args()
    tickers = a.tickers.split(",")
    if a.workers == 1:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca)
    else:
        client = RESTClient(api_key=a.key, base=a.base, ca_certs=a.ca, num_pools=a.workers, maxsize=a.workers)

    def one(t):
        return len(list(client.list_aggs(t, 1, a.span, getattr(a, "from"), a.to, limit=50000)))

    start = time.perf_counter()
    if a.workers == 1:
        counts = [one(t) for t in tickers]
    else:
        with ThreadPoolExecutor(max_workers=a.workers) as pool:
            counts = list(pool.map(one, tickers))
    secs = time.perf_counter() - start
    print(json.dumps({"secs": secs, "bars": sum(counts), "tickers": len(tickers)}))


if __name__ == "__main__":
    main()
