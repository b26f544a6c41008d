"""CPython 3.11 crash behind the home page's worker segfaults, with no library involved.

    python bench/cpython311_gc_crash.py      # 3.11.7: SIGSEGV; 3.12.1, 3.13.0: "survived"

Storing an attribute that no longer fits an object's inline values turns them into a
dict; allocating that dict can start a cyclic collection; a weakref callback run by
that collection sets an attribute on the same object (SQLAlchemy's
`InstanceState._cleanup` sets `session_id` and `_strong_obj` when the mapped object it
tracks is collected), and the half-built dict ends up sharing freed values: the heap
is corrupted and the process dies later in the allocator or the collector. See
wsgi.py for the guard the web workers run under 3.11.
"""

import gc
import sys
import weakref


class Tracked:  # the mapped object, kept alive only by a reference cycle
    me: "Tracked"


class State:  # stands for sqlalchemy.orm.state.InstanceState
    def _cleanup(self, ref: object) -> None:
        self.session_id = None
        self._strong_obj = None


def main() -> None:
    for n in range(2000):
        state = State()
        tracked = Tracked()
        tracked.me = tracked
        state.obj = weakref.ref(tracked, state._cleanup)  # type: ignore[attr-defined]
        del tracked
        gc.set_threshold(1)  # a collection on (almost) every allocation
        for i in range(40):  # more attributes than shared keys hold: materialise
            setattr(state, f"a{n % 7}_{i}", None)
        gc.set_threshold(700)
    print("survived", sys.version.split()[0])


if __name__ == "__main__":
    main()
