"""A localstripe server for the benchmark, in its own process: `python -m
bench.stripe_server PORT`.

It is the project's `LocalStripe` with one change: localstripe pickles its whole
store to /tmp/localstripe.pickle on every write, a cost (growing with each
PaymentIntent) that real Stripe does not put on a checkout, and a file shared with
any test run on the same machine. The bench turns that off.
"""

from __future__ import annotations

import sys
import threading


def main() -> None:
    from localstripe.resources import Store

    from marketplace.payments import LocalStripe

    Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    LocalStripe(int(sys.argv[1])).start()
    print("ready", flush=True)
    threading.Event().wait()  # until the bench terminates this process


if __name__ == "__main__":
    main()
