"""Python's figures for heddle-bench's `locks` group.

Run by the bench (`python3 -c <this file> --rounds R --round-ms T [--only CASE]...`);
prints one flat JSON object on stdout, `{"_gil": 1, "case name": ns_per_op, ...}`, using
the same case names as crates/heddle-bench/src/locks.rs (keys starting with `_` describe
the interpreter). Each case is calibrated to about T ms per round, run
for R rounds, and reported as the median. Loops call bound methods
(`acquire(); release()`), the cheapest spelling a Python programmer would write, so the
figures include the interpreter's loop and call overhead: that is what Python code pays.
"""

import argparse
import json
import statistics
import sys
import threading
import time

perf = time.perf_counter_ns


def lock_uncontended(n):
    lock = threading.Lock()
    acq, rel = lock.acquire, lock.release
    t = perf()
    for _ in range(n):
        acq()
        rel()
    return perf() - t


def lock_contended(n):
    """Two threads, each doing n // 2 increments of a shared counter under the lock."""
    lock = threading.Lock()
    counter = [0]
    go = threading.Event()
    per = max(1, n // 2)

    def worker():
        acq, rel = lock.acquire, lock.release
        go.wait()
        for _ in range(per):
            acq()
            counter[0] += 1
            rel()

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for th in ts:
        th.start()
    t = perf()
    go.set()
    for th in ts:
        th.join()
    elapsed = perf() - t
    assert counter[0] == 2 * per
    return elapsed * n / (2 * per)


def rlock_uncontended(n):
    lock = threading.RLock()
    acq, rel = lock.acquire, lock.release
    t = perf()
    for _ in range(n):
        acq()
        rel()
    return perf() - t


def rlock_depth2(n):
    lock = threading.RLock()
    acq, rel = lock.acquire, lock.release
    t = perf()
    for _ in range(n):
        acq()
        acq()
        rel()
        rel()
    return perf() - t


def semaphore(n):
    sem = threading.Semaphore(1)
    acq, rel = sem.acquire, sem.release
    t = perf()
    for _ in range(n):
        acq()
        rel()
    return perf() - t


def event_ping_pong(n):
    """Two threads alternating set/wait on two events; n round trips."""
    ping, pong = threading.Event(), threading.Event()

    def responder():
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    th = threading.Thread(target=responder)
    th.start()
    t = perf()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    elapsed = perf() - t
    th.join()
    return elapsed


def barrier_round(n):
    """Two threads each passing a 2-party barrier n times."""
    barrier = threading.Barrier(2)

    def other():
        w = barrier.wait
        for _ in range(n):
            w()

    th = threading.Thread(target=other)
    th.start()
    w = barrier.wait
    t = perf()
    for _ in range(n):
        w()
    elapsed = perf() - t
    th.join()
    return elapsed


CASES = [
    ("lock uncontended", lock_uncontended),
    ("lock contended 2 threads", lock_contended),
    ("rlock uncontended", rlock_uncontended),
    ("rlock re-entrant depth 2", rlock_depth2),
    ("semaphore acquire+release", semaphore),
    ("event ping-pong", event_ping_pong),
    ("barrier round", barrier_round),
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
