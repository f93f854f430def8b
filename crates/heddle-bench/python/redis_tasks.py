"""Trivial tasks for the RQ and Celery anchors of `heddle-bench redis`."""
import os

from celery import Celery

URL = os.environ.get("HEDDLE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("redis_tasks", broker=URL, backend=URL)
app.conf.update(worker_prefetch_multiplier=4, result_expires=600, broker_connection_retry_on_startup=True)


@app.task
def noop_celery():
    return None


def noop():
    return None
