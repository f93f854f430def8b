"""Python's figures for heddle-bench's `pools` group.

Run by the bench (`python3 -c <this file> --rounds R --round-ms T [--only CASE]...`);
prints one flat JSON object on stdout, `{"_gil": 1, "case name": ns_per_task, ...}`,
with the case names of crates/heddle-bench/src/pools.rs. The pool is
`concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count())`, created once and
primed (its threads start lazily) before measuring.

* `tiny task submit->result`: windows of 1024 tasks: `submit` every task of the window,
  then `result()` each; ns per task.
* `one task round trip`: `submit(f).result()` one task at a time; ns per task.

The map_chunks cases are not measured: CPU-bound work in threads does not speed up under
the GIL, which is the point of Python's ProcessPoolExecutor, not of this comparison.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

perf = time.perf_counter_ns
WINDOW = 1024


def tiny(x):
    return x


def make_cases(executor):
    submit = executor.submit

    def submit_result(n):
        t = perf()
        left = n
        while left > 0:
            k = min(left, WINDOW)
            futures = [submit(tiny, i) for i in range(k)]
            for f in futures:
                f.result()
            left -= k
        return perf() - t

    def round_trip(n):
        t = perf()
        for i in range(n):
            submit(tiny, i).result()
        return perf() - t

    return [
        ("tiny task submit->result", submit_result),
        ("one task round trip", round_trip),
    ]


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
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        # Start every worker thread before measuring.
        list(executor.map(tiny, range(4 * workers)))
        for name, fn in make_cases(executor):
            if args.only and name not in args.only:
                continue
            try:
                out[name] = measure(fn, args.rounds, round_ns)
            except Exception as e:  # report, never fail the whole run
                print(f"{name}: {e!r}", file=sys.stderr)
                out[name] = None
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
