"""WSGI entry point: `flask --app wsgi run` or `gunicorn wsgi:app`.

Two process-level guards for the web workers:

- CPython 3.11 has a use-after-free in instance-dict materialisation: when storing an
  attribute makes an object's inline values into a dict, the allocation can start a
  cyclic garbage collection, and a weakref callback run by that collection may set an
  attribute on the same object (SQLAlchemy's `InstanceState._cleanup` does, when the
  mapped object it tracks is collected). The heap is then corrupted and the worker
  dies later with SIGSEGV, inside the GC or the allocator (`bench/cpython311_gc_crash.py`
  reproduces it without any library; 3.12 and 3.13 are not affected). Under 3.11 the
  automatic collector is therefore turned off in the web process and the same
  generational collections run between requests, where no attribute store is ever
  half done.
- Connection pools must not cross a fork (`gunicorn --preload`): a forked child
  drops the parent's pooled connections without closing them and opens its own.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from marketplace import create_app

GC_BETWEEN_REQUESTS = sys.version_info < (3, 12)


def collect_if_due() -> None:
    """The collection the interpreter would have started by itself by now, if any:
    the youngest generation past its threshold, older ones when their turn came."""
    young, middle, old = gc.get_count()
    first, second, third = gc.get_threshold()
    if not first or young < first:
        return
    generation = 0
    if middle >= second:
        generation = 2 if old >= third else 1
    gc.collect(generation)


class CollectBetweenRequests:
    """WSGI middleware: cyclic garbage collection only after a response is built."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app
        gc.disable()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            collect_if_due()


app = create_app()
if GC_BETWEEN_REQUESTS:
    app.wsgi_app = CollectBetweenRequests(app.wsgi_app)  # type: ignore[method-assign]


def _after_fork_in_child() -> None:
    engine = app.extensions.get("sqlalchemy_engine")
    if engine is not None:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
