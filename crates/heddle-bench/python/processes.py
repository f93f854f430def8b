"""Python's figures for heddle-bench's `processes` group.

Run by the bench (`python3 -c <this file> --rounds R --round-ms T [--only CASE]...`);
prints one flat JSON object on stdout, `{"_gil": 1, "case name": ns_per_op, ...}`,
with the case names of crates/heddle-bench/src/processes.rs. Every process is started
with the "fork" context (Linux's default before 3.14; "spawn" cannot re-import a
script run with -c).

* `pool map, chunksize 1` / `pool map, chunksize 100`: `ProcessPoolExecutor(cpu_count)`
  (made once, primed), `list(executor.map(tiny, range(n), chunksize=c))`; ns per task.
* `queue round trip`: `multiprocessing.Queue` to an echo process and another back:
  `put(i)` then `get()`; ns per round trip.
* `process start + join`: `Process(target=noop).start(); join()`; ns per process.
* `3-stage pipeline`: the courses' DataPipeline: a reader process puts n items on a
  `multiprocessing.Queue`, a processor moves each (transformed) to a second queue, a
  writer drains it; three `Process`es started and joined; ns per item (at least 20,000
  items a run).
"""

import argparse
import concurrent.futures
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

perf = time.perf_counter_ns
ctx = mp.get_context("fork")
PIPELINE_ITEMS = 20000


def tiny(x):
    return x


def noop():
    pass


def echo(inq, outq):
    while True:
        item = inq.get()
        if item is None:
            return
        outq.put(item)


def reader(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def processor(inq, outq):
    while True:
        item = inq.get()
        if item is None:
            outq.put(None)
            return
        outq.put(item * 2 + 1)


def writer(q, done):
    count = 0
    while q.get() is not None:
        count += 1
    done.put(count)


def make_cases(executor):
    def pool_map(chunksize):
        def run(n):
            t = perf()
            for _ in executor.map(tiny, range(n), chunksize=chunksize):
                pass
            return perf() - t

        return run

    state = {}

    def queue_round_trip(n):
        if "echo" not in state:
            inq, outq = ctx.Queue(), ctx.Queue()
            p = ctx.Process(target=echo, args=(inq, outq))
            p.start()
            inq.put(0)
            outq.get()
            state["echo"] = (inq, outq, p)
        inq, outq, _ = state["echo"]
        t = perf()
        for i in range(n):
            inq.put(i)
            outq.get()
        return perf() - t

    def start_join(n):
        t = perf()
        for _ in range(n):
            p = ctx.Process(target=noop)
            p.start()
            p.join()
        return perf() - t

    def pipeline(n):
        # At least PIPELINE_ITEMS items a run, so that starting the three processes
        # does not dominate; the figure is scaled back to n.
        asked, n = n, max(n, PIPELINE_ITEMS)
        t = perf()
        q1, q2, done = ctx.Queue(maxsize=100), ctx.Queue(maxsize=100), ctx.Queue()
        procs = [
            ctx.Process(target=reader, args=(q1, n)),
            ctx.Process(target=processor, args=(q1, q2)),
            ctx.Process(target=writer, args=(q2, done)),
        ]
        for p in procs:
            p.start()
        got = done.get()
        for p in procs:
            p.join()
        assert got == n
        return (perf() - t) * asked // n

    def close():
        if "echo" in state:
            inq, _, p = state["echo"]
            inq.put(None)
            p.join()

    cases = [
        ("pool map, chunksize 1", pool_map(1)),
        ("pool map, chunksize 100", pool_map(100)),
        ("queue round trip", queue_round_trip),
        ("process start + join", start_join),
        ("3-stage pipeline", pipeline),
    ]
    return cases, close


def measure(fn, rounds, round_ns):
    # Calibrate (and warm up): double until a run takes a tenth of the target.
    n = 1
    while True:
        ns = fn(n)
        if ns >= round_ns / 10 or n >= 1 << 30:
            break
        n *= 2
    n = max(1, int(round_ns * n / max(ns, 1)))
    return statistics.median(fn(n) / n for _ in range(rounds))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--round-ms", type=float, default=40.0)
    ap.add_argument("--only", action="append", help="run only these cases")
    args = ap.parse_args()
    round_ns = args.round_ms * 1e6
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    out = {"_gil": 1 if gil else 0}
    workers = os.cpu_count() or 1
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as executor:
        list(executor.map(tiny, range(4 * workers)))
        cases, close = make_cases(executor)
        for name, fn in cases:
            if args.only and name not in args.only:
                continue
            try:
                out[name] = measure(fn, args.rounds, round_ns)
            except Exception as e:  # report, never fail the whole run
                print(f"{name}: {e!r}", file=sys.stderr)
                out[name] = None
        close()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
