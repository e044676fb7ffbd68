"""Run calls at the same instant, as concurrent requests would."""

from __future__ import annotations

import threading

from django.db import connection


def at_once(*calls):
    """Run the calls in threads released together (each thread has its own
    database connection, closed after); returns their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
