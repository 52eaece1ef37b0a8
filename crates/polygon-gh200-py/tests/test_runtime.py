"""The GIL, Ctrl-C, asyncio, and the cache across data sources (disk and the real Redis)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

import polygon_gh200 as pg
from conftest import FROM, KEY, TO, redis_url


def test_ctrl_c_raises_keyboard_interrupt_and_cancels_the_fetch():
    # A simulator that takes 60 s a response: only an interrupt ends this fetch early.
    script = textwrap.dedent(
        """
        import sys
        import polygon_gh200 as pg
        with pg.Simulator(latency_ms=60000) as sim:
            c = pg.PolygonDataSource(base_url=sim.url, api_key="k", redis_url="off", cache_disk=False)
            print("fetching", flush=True)
            try:
                c.get_aggregates_batch(["AAPL", "MSFT"], from_date="2024-10-01", to_date="2024-10-02")
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                c.close()
                sys.exit(0)
        print("finished without an interrupt", flush=True)
        sys.exit(3)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "fetching"
    time.sleep(0.5)  # into the fetch
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)  # well before one 60 s response
    assert p.returncode == 0, (out, err)
    assert "interrupted" in out


def test_other_python_threads_run_during_a_fetch(make_client, sim):
    # ~2 ms a response and ten minute-bar pages: the fetch takes a while, the GIL is free.
    c = make_client()
    ticks = 0
    done = threading.Event()

    def spin():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.0005)

    t = threading.Thread(target=spin)
    t.start()
    try:
        r = c.get_aggregates_batch(["AAPL", "MSFT", "GOOGL", "AMZN"], from_date="2024-09-01", to_date="2024-10-31")
    finally:
        done.set()
        t.join()
    assert len(r) == 4
    assert ticks > 20, f"the other thread ran {ticks} times during the fetch: the GIL was held"


def test_async_batch_equals_the_sync_one(client):
    async def main():
        other = asyncio.create_task(asyncio.sleep(0.01))
        r = await client.aget_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
        await other
        frame = await client.aget_aggregates_frame(["AAPL"], from_date=FROM, to_date=TO)
        chunks = [c async for c in client.astream(["AAPL", "MSFT"], from_date=FROM, to_date=TO)]
        return r, frame, chunks

    r, frame, chunks = asyncio.run(main())
    want = client.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
    assert list(r) == list(want)
    for t in want:
        pd.testing.assert_frame_equal(r[t], want[t])
    assert len(frame) == len(want["AAPL"])
    assert [t for c in chunks for t in c.tickers] == ["AAPL", "MSFT"]


def test_cancelling_an_async_batch_stops_it():
    async def main(sim):
        c = pg.PolygonDataSource(base_url=sim.url, api_key="k", redis_url="off", cache_disk=False)
        task = asyncio.create_task(c.aget_aggregates_batch(["AAPL"], from_date=FROM, to_date=TO))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=20)  # bounded by the cancel, not by 60 s
        c.close()

    with pg.Simulator(latency_ms=60000) as sim:
        asyncio.run(main(sim))


def test_a_warm_rerun_from_disk_makes_no_request(sim, tmp_path):
    settings = dict(base_url=sim.url, api_key=KEY, redis_url="off", cache_dir=str(tmp_path / "cache"))
    tickers = ["AAPL", "MSFT", "GOOGL"]
    with pg.PolygonDataSource(**settings) as c:
        cold = c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO)
    before = sim.stats()["requests"]
    assert before > 0
    # A new data source (a rerun of the notebook): served from the disk tier.
    with pg.PolygonDataSource(**settings) as c:
        warm = c.get_aggregates_batch(tickers, from_date=FROM, to_date=TO)
        assert c.stats()["disk_hits"] >= 3
    assert sim.stats()["requests"] == before
    for t in tickers:
        pd.testing.assert_frame_equal(warm[t], cold[t])


def test_disk_is_on_by_default_under_the_platform_cache_dir(sim, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pg.PolygonDataSource(base_url=sim.url, api_key=KEY, redis_url="off") as c:
        c.get_aggregates("AAPL", 1, "minute", FROM, TO)
    files = list((tmp_path / "xdg" / "polygon-gh200").rglob("*.pgc"))
    assert files, "the default disk cache is $XDG_CACHE_HOME/polygon-gh200"


def test_a_warm_rerun_from_redis_makes_no_request(sim, redis_namespace):
    settings = dict(
        base_url=sim.url, api_key=KEY, redis_url=redis_url(), cache_disk=False, cache_namespace=redis_namespace
    )
    try:
        with pg.PolygonDataSource(**settings) as c:
            c.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
            assert c.stats()["redis"] == "Up"
            assert c.stats()["loads"] == 2
        before = sim.stats()["requests"]
        with pg.PolygonDataSource(**settings) as c:
            r = c.get_aggregates_batch(["AAPL", "MSFT"], from_date=FROM, to_date=TO)
            assert c.stats()["redis_hits"] >= 2
        assert len(r) == 2 and sim.stats()["requests"] == before
        with pg.PolygonDataSource(**settings) as c:
            c.clear_cache()
            c.get_aggregates_batch(["AAPL"], from_date=FROM, to_date=TO)
        assert sim.stats()["requests"] > before, "after clear_cache the bars are fetched again"
    finally:
        with pg.PolygonDataSource(**settings) as c:
            c.clear_cache()


def test_a_forked_child_gets_an_error_for_the_parents_handle_and_can_make_its_own(make_client, sim):
    import multiprocessing as mp

    parent = make_client()
    assert len(parent.get_aggregates("AAPL", 1, "minute", FROM, TO)) > 0  # the runtime exists

    def child(q):
        try:
            parent.get_aggregates("AAPL", 1, "minute", FROM, TO)
            q.put("the parent's handle worked in the child")
        except pg.PolygonError as e:
            q.put(("error", str(e)))
        with pg.PolygonDataSource(base_url=sim.url, api_key=KEY, redis_url="off", cache_disk=False) as mine:
            q.put(("rows", len(mine.get_aggregates("MSFT", 1, "minute", FROM, TO))))

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    first, second = q.get(timeout=60), q.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0
    assert first[0] == "error" and "forked" in first[1], first
    assert second[0] == "rows" and second[1] > 1000
