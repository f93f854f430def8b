"""Python's figures for heddle-bench's `queues` group.

Run by the bench (`python3 -c <this file> --rounds R --round-ms T [--only CASE]...`);
prints one flat JSON object on stdout, `{"_gil": 1, "case name": ns_per_message, ...}`,
with the case names of crates/heddle-bench/src/queues.rs. Producers and consumers are
`threading.Thread`s over one `queue.Queue(maxsize)` (maxsize 0 = unbounded), calling
bound `put`/`get` methods; the figure is wall time per message, start to finish. There
is no rendezvous queue in Python, so that case is not reported.
"""

import argparse
import json
import queue
import statistics
import sys
import threading
import time

perf = time.perf_counter_ns


def pipe(maxsize, producers, consumers):
    def run(n):
        lcm = producers * consumers
        n = max(1, -(-n // lcm)) * lcm
        q = queue.Queue(maxsize)
        go = threading.Barrier(producers + consumers + 1)
        per_p, per_c = n // producers, n // consumers

        def producer():
            put = q.put
            go.wait()
            for i in range(per_p):
                put(i)

        def consumer():
            get = q.get
            go.wait()
            for _ in range(per_c):
                get()

        ts = [threading.Thread(target=producer) for _ in range(producers)]
        ts += [threading.Thread(target=consumer) for _ in range(consumers)]
        for t in ts:
            t.start()
        go.wait()
        t0 = perf()
        for t in ts:
            t.join()
        return (perf() - t0) / n

    return run


CASES = []
for topology, p, c in [("spsc", 1, 1), ("mpsc 4->1", 4, 1), ("mpmc 4->4", 4, 4)]:
    for cap_name, maxsize in [("bounded(1)", 1), ("bounded(1024)", 1024), ("unbounded", 0)]:
        CASES.append((f"{topology} {cap_name}", pipe(maxsize, p, c)))


def measure(fn, rounds, round_ns):
    # Calibrate (and warm up): double until a run takes a tenth of the target.
    n = 64
    while True:
        per = fn(n)
        if per * n >= round_ns / 10 or n >= 1 << 24:
            break
        n *= 2
    n = max(64, int(round_ns / max(per, 1)))
    return statistics.median(fn(n) for _ in range(rounds))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--round-ms", type=float, default=40.0)
    ap.add_argument("--only", action="append", help="run only these cases")
    args = ap.parse_args()
    round_ns = args.round_ms * 1e6
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    out = {"_gil": 1 if gil else 0}
    for name, fn in CASES:
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
