"""Process-level guards for the web and task workers.

CPython 3.11 has a use-after-free in instance-dict materialisation: when storing an
attribute turns an object's inline values into a dict, the allocation can start a
cyclic garbage collection, and a weakref callback run by that collection may set an
attribute on the same object (SQLAlchemy's `InstanceState._cleanup` does, when the
mapped object it tracks is collected). The heap is then corrupted and the worker dies
later with SIGSEGV (`bench/cpython311_gc_crash.py` reproduces it without any library;
3.12 and later are not affected). Under 3.11 the automatic collector is turned off
once a process starts serving requests or running tasks, and the same generational
collections run between them, where no attribute store is ever half done.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable
from typing import Any

NEEDS_GUARD = sys.version_info < (3, 12)


def collect_if_due() -> None:
    """The collection the interpreter would have started by itself by now, if any."""
    young, middle, old = gc.get_count()
    first, second, third = gc.get_threshold()
    if not first or young < first:
        return
    generation = 0
    if middle >= second:
        generation = 2 if old >= third else 1
    gc.collect(generation)


def between_units_of_work(run: Callable[[], Any]) -> Any:
    """Run one request or task with the collector paused, collect afterwards."""
    if not NEEDS_GUARD:
        return run()
    if gc.isenabled():
        gc.disable()
        # What exists before the first request (modules, the app, mappers, templates)
        # lives as long as the process: out of the collector's sight, a full
        # collection walks only what requests allocate (milliseconds less, each time).
        gc.freeze()
    try:
        return run()
    finally:
        collect_if_due()


class CollectBetweenRequests:
    """WSGI middleware: cyclic garbage collection only after a response is built."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return between_units_of_work(lambda: self.wsgi_app(environ, start_response))
