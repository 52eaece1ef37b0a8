"""Decode throughput of the official Python client (massive) on the body the Rust bench writes.

Run `cargo bench -p polygon-model --bench decode` first (it writes target/bench/aggs_50k.json), then
`python3 crates/polygon-model/benches/python_decode.py`. Times what RESTClient.list_aggs does per
page: json.loads of the body, then Agg.from_dict for each bar.
"""
import json
import pathlib
import time

from massive.rest.models import Agg

path = pathlib.Path(__file__).resolve().parents[3] / "target" / "bench" / "aggs_50k.json"
body = path.read_bytes()
best_json = float("inf")
for _ in range(7):
    t0 = time.perf_counter()
    json.loads(body.decode("utf-8"))
    best_json = min(best_json, time.perf_counter() - t0)
best = float("inf")
for _ in range(7):
    t0 = time.perf_counter()
    obj = json.loads(body.decode("utf-8"))
    aggs = [Agg.from_dict(r) for r in obj["results"]]
    best = min(best, time.perf_counter() - t0)
assert len(aggs) == 50_000
print(f"json.loads alone: {len(body) / best_json / 2**20:.1f} MiB/s")
print(f"massive (json.loads + Agg.from_dict): {len(body) / best / 2**20:.1f} MiB/s, {best * 1e3:.1f} ms for {len(body)} bytes")
