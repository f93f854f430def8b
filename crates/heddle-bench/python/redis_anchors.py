"""RQ and Celery trivial-task throughput with N worker processes, on the Redis at
HEDDLE_BENCH_REDIS (a Redis broker and result backend for both). Prints one line of
JSON: {"rq": tasks_per_s, "celery": tasks_per_s} (a missing key: that anchor failed;
the reason goes to stderr)."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
URL = os.environ["HEDDLE_BENCH_REDIS"]
WORKERS = int(os.environ.get("HEDDLE_BENCH_WORKERS", "2"))
TASKS = int(os.environ.get("HEDDLE_BENCH_TASKS", "1000"))
ENV = dict(os.environ, PYTHONPATH=HERE)
BIN = os.path.dirname(sys.executable)


def bench_rq():
    from redis import Redis
    from rq import Queue, Worker
    from rq.registry import FinishedJobRegistry
    import redis_tasks

    conn = Redis.from_url(URL)
    q = Queue("heddle-bench", connection=conn)
    workers = [
        subprocess.Popen([os.path.join(BIN, "rq"), "worker", "--url", URL, "-q", "heddle-bench"],
                         env=ENV, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(WORKERS)
    ]
    finished = FinishedJobRegistry(queue=q)

    def wait_finished(n, limit):
        deadline = time.time() + limit
        while finished.count < n:
            if time.time() > deadline:
                raise RuntimeError(f"rq: {finished.count} of {n} jobs finished in {limit}s")
            time.sleep(0.005)

    try:
        deadline = time.time() + 60
        while len(Worker.all(connection=conn)) < WORKERS:
            if time.time() > deadline:
                raise RuntimeError("rq workers did not come up")
            time.sleep(0.05)
        warm = 10
        for _ in range(warm):
            q.enqueue(redis_tasks.noop, result_ttl=600)
        wait_finished(warm, 60)
        start = time.perf_counter()
        for _ in range(TASKS):
            q.enqueue(redis_tasks.noop, result_ttl=600)
        wait_finished(warm + TASKS, 600)
        return TASKS / (time.perf_counter() - start)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)


def bench_celery():
    import redis_tasks

    workers = [
        subprocess.Popen([os.path.join(BIN, "celery"), "-A", "redis_tasks", "worker", "-P", "solo",
                          "-n", f"w{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                          "-l", "ERROR"], env=ENV, cwd=HERE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(WORKERS)
    ]
    try:
        # Warm up: every worker up and answering.
        deadline = time.time() + 60
        while True:
            replies = redis_tasks.app.control.ping(timeout=1.0) or []
            if len(replies) >= WORKERS:
                break
            if time.time() > deadline:
                raise RuntimeError("celery workers did not come up")
        for r in [redis_tasks.noop_celery.delay() for _ in range(20)]:
            r.get(timeout=60)
        start = time.perf_counter()
        results = [redis_tasks.noop_celery.delay() for _ in range(TASKS)]
        for r in results:
            r.get(timeout=600)
        return TASKS / (time.perf_counter() - start)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)


out = {}
for name, f in (("rq", bench_rq), ("celery", bench_celery)):
    try:
        out[name] = f()
    except Exception as e:  # an anchor that fails is skipped, with the reason
        print(f"{name}: {e!r}", file=sys.stderr)
print(json.dumps(out))
