"""Storefront benchmark: the app under gunicorn on PostgreSQL with the demo scaled up,
against a bare Flask endpoint doing one indexed query, measured in the same run.

    /work/venv/bin/python -m bench.storefront [--shops 200 --products 20000 ...]

See bench/README.md for what it does and what the figures mean. Never run by the
test suite: it creates (and drops) its own database and binds only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import itertools
import logging
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/storefront.py` as well as `-m bench.storefront`
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.5
Counts = dict[str, int | str]  # SQL statements per request, or "HTTP <status>"
PAGES = ("home", "shop", "product", "search")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CHECKOUT_KEY = re.compile(r'name="checkout_key"[^>]*value="([^"]+)"')
FULFILMENT = re.compile(r'name="(fulfilment-\d+)"')


# --- Plain HTTP clients (keep-alive, cookies, no redirects) --------------------------


class Client:
    """One keep-alive connection to 127.0.0.1 with its own cookies, like one browser."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.last_used = 0.0

    def request(
        self, method: str, path: str, form: dict[str, Any] | None = None
    ) -> tuple[int, str, float]:
        """Status, body and seconds from sending the request to reading the body."""
        headers = {"Connection": "keep-alive", "Accept-Language": "fr"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        # Retry once only on a connection left idle (gunicorn closes those after 2 s):
        # a failure on a busy connection is the server's, and counts as an error.
        idle = time.perf_counter() - self.last_used > 1.0
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2 or not idle:
                    raise
                continue
            self.last_used = time.perf_counter()
            elapsed = self.last_used - started
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if "expires=thu, 01 jan 1970" in header.lower() or "max-age=0" in header.lower():
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
            return response.status, data.decode("utf-8", "replace"), elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    capped: bool = False
    note: str = ""

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    def error(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message[:300]


def drive(
    result: Result,
    clients: int,
    total: int,
    time_cap: float,
    setup: Callable[[int], Client],
    step: Callable[[Client, int, Result], None],
) -> Result:
    """`clients` threads each set up (untimed), then run `step` until `total` steps
    were taken or `time_cap` seconds passed; the wall time counts from the moment they
    all start to the moment the last one stops."""
    counter = itertools.count()
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        client = None
        try:
            client = setup(index)
        except BaseException as exc:  # reported below; the barrier must still be reached
            failures.append(exc)
        ready.wait()
        if client is None:
            return
        try:
            while True:
                i = next(counter)
                if i >= total:
                    return
                if time.perf_counter() > deadline[0]:
                    result.capped = True
                    return
                try:
                    step(client, i, result)
                except (http.client.HTTPException, OSError) as exc:  # e.g. a worker died
                    result.error(f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + 3600  # set properly once every client is ready
    ready.wait()
    started = time.perf_counter()
    deadline[0] = started + time_cap
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    if failures:
        result.error(f"{type(failures[0]).__name__}: {failures[0]}")
        result.errors += len(failures) - 1
    return result


def measure_get(
    name: str, port: int, paths: list[str], args: argparse.Namespace, total: int = 0
) -> Result:
    """GET `paths` in turn from every client (each warms up on a few first)."""

    warmup = 3

    def setup(index: int) -> Client:
        client = Client(port)
        for n in range(warmup):
            # A crash here shows in the measured requests and the crash count.
            with suppress(http.client.HTTPException, OSError):
                client.request("GET", paths[(index * warmup + n) % len(paths)])
        return client

    def step(client: Client, i: int, result: Result) -> None:
        status, _, elapsed = client.request("GET", paths[i % len(paths)])
        if status != 200:
            result.error(f"GET {paths[i % len(paths)]} -> {status}")
            return
        result.latencies.append(elapsed)

    total = total or args.requests
    return drive(Result(name), args.clients, total, args.time_cap, setup, step)


def zipf_sequence(paths: list[str], length: int, exponent: float, seed: int) -> list[str]:
    """`length` draws from `paths`, the k-th most popular with weight 1/k**exponent;
    which path is the k-th is itself a seeded shuffle."""
    rng = random.Random(seed)  # noqa: S311 - a traffic model, not a secret
    ranked = list(paths)
    rng.shuffle(ranked)
    weights = list(itertools.accumulate(1 / (k**exponent) for k in range(1, len(ranked) + 1)))
    return rng.choices(ranked, cum_weights=weights, k=length)


def measure_steady(
    name: str, port: int, paths: list[str], args: argparse.Namespace, seed: int
) -> Result:
    """Steady state: `--steady-warmup` requests drawn from a Zipf popularity over
    `paths` (untimed: they fill the page cache as earlier traffic would), then
    `--steady-requests` more drawn the same way, measured. The note gives the share
    of measured requests whose URL had been requested before (an upper bound of the
    cache's hit rate: each gunicorn worker has its own cache without Redis)."""
    sequence = zipf_sequence(paths, args.steady_warmup + args.steady_requests, args.zipf, seed)
    warm, measured = sequence[: args.steady_warmup], sequence[args.steady_warmup :]

    def setup(index: int) -> Client:
        return Client(port)

    def step_in(requests: list[str]) -> Callable[[Client, int, Result], None]:
        def step(client: Client, i: int, result: Result) -> None:
            status, _, elapsed = client.request("GET", requests[i])
            if status != 200:
                result.error(f"GET {requests[i]} -> {status}")
                return
            result.latencies.append(elapsed)

        return step

    warm_result = drive(
        Result(name), args.clients, len(warm), args.time_cap * 3, setup, step_in(warm)
    )
    result = drive(
        Result(name), args.clients, len(measured), args.time_cap, setup, step_in(measured)
    )
    result.errors += warm_result.errors
    result.first_error = warm_result.first_error or result.first_error
    seen = set(warm)
    repeats = 0
    for path in measured:
        repeats += path in seen
        seen.add(path)
    result.note = (
        f"{len(set(paths))} URLs, {len(set(measured))} distinct measured, "
        f"{repeats / len(measured):.0%} already requested"
    )
    return result


def login(client: Client, email: str, password: str) -> None:
    status, page, _ = client.request("GET", "/compte/connexion")
    token = CSRF.search(page)
    if status != 200 or token is None:
        raise RuntimeError(f"login page: {status}")
    form = {"email": email, "password": password, "csrf_token": token.group(1)}
    status, _, _ = client.request("POST", "/compte/connexion", form)
    if status != 302:
        raise RuntimeError(f"login {email}: {status}")


def measure_checkout(
    port: int,
    emails: list[str],
    password: str,
    items: list[tuple[int, str]],
    args: argparse.Namespace,
) -> Result:
    """Each client logs in once, then per checkout: adds 1-2 items (POST /panier),
    opens /commande and POSTs it; only that POST is timed."""
    clients = min(args.clients, len(emails))

    def setup(index: int) -> Client:
        client = Client(port)
        login(client, emails[index], password)
        client.rng = random.Random(index)  # type: ignore[attr-defined]  # noqa: S311
        status, page, _ = client.request("GET", f"/boutiques/{items[index % len(items)][1]}")
        token = CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"shop page for the basket form: {status}")
        client.token = token.group(1)  # type: ignore[attr-defined]
        return client

    def step(client: Client, i: int, result: Result) -> None:
        rng: random.Random = client.rng  # type: ignore[attr-defined]
        for variant_id, _ in rng.sample(items, rng.randint(1, 2)):
            form = {
                "variant_id": variant_id,
                "quantity": 1,
                "mode": "add",
                "next": "/panier",
                "csrf_token": client.token,  # type: ignore[attr-defined]
            }
            status, _, _ = client.request("POST", "/panier", form)
            if status != 302:
                result.error(f"POST /panier -> {status}")
                return
        status, page, _ = client.request("GET", "/commande")
        key, token = CHECKOUT_KEY.search(page), CSRF.search(page)
        if status != 200 or key is None or token is None:
            result.error(f"GET /commande -> {status}")
            return
        form = {
            "csrf_token": token.group(1),
            "checkout_key": key.group(1),
            "name": "Habitant Bench",
            "email": emails[0],
            "phone": "06 12 34 56 78",
        }
        form.update(dict.fromkeys(set(FULFILMENT.findall(page)), "click_and_collect"))
        status, body, elapsed = client.request("POST", "/commande", form)
        if status != 302:
            problem = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
            result.error(f"POST /commande -> {status}: {problem[-200:]}")
            return
        result.latencies.append(elapsed)

    result = Result("checkout")
    result.note = "checkouts/s of the whole flow; latency of the POST /commande"
    return drive(result, clients, args.requests, args.time_cap, setup, step)


# --- Processes: localstripe, gunicorn --------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(name: str, argv: list[str], port: int, env: dict[str, str], logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(name, process, port, log)


def wait_http(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not answering on {path}:\n{server.tail()}")


def gunicorn(name: str, target: str, args: argparse.Namespace, env: dict[str, str], logs: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        target,
    ]
    return start(name, argv, port, env, logs)


# --- Database ----------------------------------------------------------------------


def recreate_database(admin_url: str, name: str, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


# --- SQL statements per request, in-process ------------------------------------------


@dataclass
class Targets:
    """The URLs counted at both catalogue sizes (the same shop, product and term)."""

    home: str = "/"
    shop: str = ""
    product: str = ""
    search: str = ""


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    from sqlalchemy import event

    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def count_queries(
    app: Any, targets: Targets, email: str, password: str, items: list[tuple[int, str]]
) -> Counts:
    """SQL statements of one request to each page (after a warm-up request) and of one
    checkout POST; "HTTP <status>" instead where a page does not answer 200 (a page
    not written yet in this tree answers 404)."""
    from marketplace.extensions import db

    with app.app_context():
        engine = db.engine
    client = app.test_client()
    counts: Counts = {}
    logging.disable(logging.ERROR)  # a page being written may fail: one line below, no trace
    try:
        for name in PAGES:
            path = getattr(targets, name)
            status = client.get(path).status_code
            if status == 200:
                with counting(engine) as statements:
                    status = client.get(path).status_code
            counts[name] = len(statements) if status == 200 else f"HTTP {status}"
        counts["checkout"] = _count_checkout(client, engine, email, password, items)
    finally:
        logging.disable(logging.NOTSET)
    return counts


def _count_checkout(
    client: Any, engine: Any, email: str, password: str, items: list[tuple[int, str]]
) -> int | str:

    page = client.get("/compte/connexion").text
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    client.post(
        "/compte/connexion", data={"email": email, "password": password, "csrf_token": token}
    )
    token = CSRF.search(client.get(f"/boutiques/{items[0][1]}").text).group(1)  # type: ignore[union-attr]
    for variant_id, _ in items[:2]:
        form = {"variant_id": variant_id, "quantity": 1, "mode": "add", "csrf_token": token}
        client.post("/panier", data=form)
    page = client.get("/commande").text
    form = {
        "csrf_token": CSRF.search(page).group(1),  # type: ignore[union-attr]
        "checkout_key": CHECKOUT_KEY.search(page).group(1),  # type: ignore[union-attr]
        "name": "Habitant Bench",
        "email": email,
        "phone": "06 12 34 56 78",
        **dict.fromkeys(set(FULFILMENT.findall(page)), "click_and_collect"),
    }
    with counting(engine) as statements:
        status = client.post("/commande", data=form).status_code
    client.post("/compte/deconnexion", data={"csrf_token": form["csrf_token"]})
    return len(statements) if status == 302 else f"HTTP {status}"


def pick_targets(app: Any) -> Targets:
    """The first demo shop, its first product and a word of that product's name."""
    from sqlalchemy import select

    from marketplace.extensions import db
    from merchants.demo import build_plan
    from merchants.models import Product, Shop

    with app.app_context():
        slug = build_plan()[0].slug
        shop = db.session.scalar(select(Shop).where(Shop.slug == slug))
        assert shop is not None
        product = db.session.scalar(
            select(Product).where(Product.shop_id == shop.id).order_by(Product.id).limit(1)
        )
        assert product is not None
        word = max(re.findall(r"\w+", product.name), key=len).lower()
        return Targets(
            shop=f"/boutiques/{shop.slug}",
            product=f"/boutiques/{shop.slug}/{product.slug}",
            search=f"/recherche?q={urllib.parse.quote(word)}",
        )


def url_lists(app: Any, seed: int = 7) -> dict[str, list[str]]:
    """What the clients request, in a fixed shuffled order: every shop for the shop
    page and the baseline, 1,000 products, search words from product names."""
    from sqlalchemy import select

    from marketplace.extensions import db
    from merchants.models import Product, Shop

    rng = random.Random(seed)  # noqa: S311 - a shuffle, not a secret
    with app.app_context():
        slugs = list(db.session.scalars(select(Shop.slug).order_by(Shop.id)))
        pairs = db.session.execute(
            select(Shop.slug, Product.slug).join(Product.shop).order_by(Product.id)
        ).all()
        names = list(db.session.scalars(select(Product.name).distinct().limit(2000)))
    rng.shuffle(slugs)
    products = [f"/boutiques/{s}/{p}" for s, p in rng.sample(pairs, min(1000, len(pairs)))]
    every_product = [f"/boutiques/{s}/{p}" for s, p in pairs]
    words = sorted({w.lower() for name in names for w in re.findall(r"\w{4,}", name)})
    rng.shuffle(words)
    return {
        "baseline": [f"/shop/{s}" for s in slugs],
        "home": ["/"],
        "shop": [f"/boutiques/{s}" for s in slugs],
        "product": products,
        "every_product": every_product,
        "search": [f"/recherche?q={urllib.parse.quote(w)}" for w in words[:300]],
    }


# --- Report -------------------------------------------------------------------------


def print_counts(small: tuple[str, Counts], big: tuple[str, Counts]) -> None:
    print("\nSQL statements per request (in-process, Flask test client, after one warm-up)")
    print(f"  {'request':<16}{small[0]:>28}{big[0]:>34}   constant")
    for name in (*PAGES, "checkout"):
        a, b = small[1].get(name), big[1].get(name)
        label = "POST /commande" if name == "checkout" else name
        if isinstance(a, str) or isinstance(b, str):
            verdict = "n/a (404: not in this tree yet)" if a == b == "HTTP 404" else "n/a"
            print(f"  {label:<16}{a!s:>28}{b!s:>34}   {verdict}")
            continue
        print(f"  {label:<16}{a!s:>28}{b!s:>34}   {'yes' if a == b else 'NO'}")


def print_steady(results: list[Result], baseline: Result, args: argparse.Namespace) -> bool:
    print(
        f"\nSteady state (the figures the target is judged on): Zipf popularity, exponent "
        f"{args.zipf}, seeded; page cache warmed by {args.steady_warmup} untimed requests "
        f"of the same mix, then {args.steady_requests} measured; {args.clients} clients; "
        f"page cache {getattr(args, 'page_store', 'each worker its own, in memory')}"
    )
    header = (
        f"  {'':<16}{'requests':>9}{'errors':>8}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'ratio':>8}  {'target':<8}{'result':<8}traffic"
    )
    print(header)
    print("  " + "-" * (len(header) + 30))
    ok = True
    for result in results:
        if result.note.startswith("skipped"):
            print(f"  {result.name:<16}{result.note}")
            ok = False
            continue
        ratio = result.rps / baseline.rps if baseline.rps else 0.0
        passed = ratio >= TARGET_RATIO and result.errors == 0
        ok = ok and passed
        print(
            f"  {result.name:<16}{result.done:>9}{result.errors:>8}{result.rps:>9.1f}"
            f"{result.percentile(50):>9.1f}{result.percentile(95):>9.1f}{ratio:>8.2f}  "
            f"{'>= ' + str(TARGET_RATIO):<8}{'PASS' if passed else 'MISS':<8}{result.note}"
            f"{'  [time cap]' if result.capped else ''}"
        )
        if result.first_error:
            print(f"  ! {result.name}: {result.first_error}")
    return ok


def print_results(results: list[Result], baseline: Result, args: argparse.Namespace) -> bool:
    print(
        f"\nCold walk (every page request a URL not requested before, or nearly: rendered "
        f"from the database): {args.clients} clients, keep-alive, gunicorn --workers "
        f"{args.workers} --threads {args.threads}, up to {args.requests} requests per line "
        f"(time cap {args.time_cap:.0f} s); shown for information, the target is judged "
        f"on the steady state below"
    )
    header = (
        f"  {'':<16}{'requests':>9}{'errors':>8}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'ratio':>8}  {'target':<8}result"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    ok = True
    for result in results:
        if result.note.startswith("skipped"):
            print(f"  {result.name:<16}{result.note}")
            continue
        ratio = result.rps / baseline.rps if baseline.rps else 0.0
        if result.name.startswith("baseline"):
            target, verdict = "", "(reference)" if result is baseline else ""
            ratio_text = f"{ratio:>8.2f}"
        elif result.name == "checkout":
            target, verdict = "info", "(not a page: a write + a PaymentIntent)"
            ratio_text = f"{ratio:>8.2f}"
        else:
            passed = ratio >= TARGET_RATIO and result.errors == 0
            ok = ok and passed
            target = "info"
            verdict = f"cold walk: {'at or above' if passed else 'below'} {TARGET_RATIO}"
            ratio_text = f"{ratio:>8.2f}"
        print(
            f"  {result.name:<16}{result.done:>9}{result.errors:>8}{result.rps:>9.1f}"
            f"{result.percentile(50):>9.1f}{result.percentile(95):>9.1f}{ratio_text}  "
            f"{target:<8}{verdict}{'  [time cap]' if result.capped else ''}"
        )
    for result in results:
        if result.first_error:
            print(f"  ! {result.name}: {result.first_error}")
    return ok


# --- Main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, default=200, help="shops in the scaled catalogue")
    parser.add_argument("--products", type=int, default=20_000, help="products, spread evenly")
    parser.add_argument(
        "--requests", type=int, default=300, help="requests per page (and checkouts)"
    )
    parser.add_argument(
        "--baseline-requests",
        type=int,
        default=3000,
        help="requests for each baseline measurement (it is ~100x faster than a page)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--steady-requests", type=int, default=3000, help="measured steady-state requests"
    )
    parser.add_argument(
        "--steady-warmup", type=int, default=3000, help="untimed steady-state warm-up requests"
    )
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf popularity exponent")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the steady-state draws")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn --workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per measurement")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL URL allowed to create databases",
    )
    parser.add_argument("--database", default="comptoir_bench", help="database to (re)create")
    parser.add_argument(
        "--page-cache-redis",
        default=os.environ.get("BENCH_PAGE_CACHE_REDIS", "redis://127.0.0.1:6379/4"),
        help="Redis db of the page cache shared by the workers, flushed at start "
        "('' or unreachable: each worker keeps its own pages)",
    )
    parser.add_argument(
        "--pages",
        nargs="+",
        choices=PAGES,
        default=list(PAGES),
        help="pages to measure (default: all); the others are left out of both tables",
    )
    parser.add_argument("--skip-checkout", action="store_true", help="do not measure the checkout")
    parser.add_argument("--epci", default="200030674", help="EPCI of the demo territory")
    parser.add_argument(
        "--keep-db", action="store_true", help="do not drop the database at the end"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on a MISS or a non-constant count"
    )
    return parser.parse_args(argv)


def page_store(url: str) -> str | None:
    """The page cache's Redis URL, its db flushed, or None (per-worker pages) when
    not wanted or not reachable."""
    if not url:
        return None
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=2).flushdb()
    except Exception as exc:  # any failure: say so, run without it
        print(f"  page cache: Redis {url} not usable ({exc}); each worker keeps its own")
        return None
    return url


def bench_environment(
    database_url: str, stripe_url: str, logs: Path, clients: int, pages_url: str | None
) -> dict[str, str]:
    """The process environment of the app: PostgreSQL, no REDIS_URL (tasks
    in-process, no broker), the page cache in Redis when `pages_url` (shared by the
    workers, as production's REDIS_URL makes it), payments against the bench's
    localstripe."""
    for name in ("REDIS_URL", "PAGE_CACHE_REDIS_URL", "COMPTOIR_ENV", "MAIL_SERVER",
                 "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY",
                 "STRIPE_WEBHOOK_SECRET"):  # fmt: skip
        os.environ.pop(name, None)
    if pages_url:
        os.environ["PAGE_CACHE_REDIS_URL"] = pages_url
    os.environ["DATABASE_URL"] = database_url
    os.environ["STRIPE_API_BASE"] = stripe_url
    os.environ["MAIL_FOLDER"] = str(logs / "mail")
    os.environ["PYTHONFAULTHANDLER"] = "1"  # a worker that crashes leaves its traceback
    if clients > 9:  # every client logs in from 127.0.0.1: the 10/minute limit would bite
        os.environ["RATELIMIT_ENABLED"] = "0"
    return dict(os.environ)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("gunicorn") is None:
        print("gunicorn is not installed: pip install -e '.[bench]' (or pip install gunicorn)")
        return 2
    logging.basicConfig(level=logging.WARNING)
    began = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="comptoir-bench-"))
    database_url = with_database(args.postgres, args.database)
    servers: list[Server] = []
    try:
        return run(args, logs, database_url, servers, began)
    finally:
        for server in servers:
            server.stop()
        if not args.keep_db:
            recreate_database(args.postgres, args.database, drop_only=True)


def run(
    args: argparse.Namespace, logs: Path, database_url: str, servers: list[Server], began: float
) -> int:
    stripe_port = free_port()
    pages_url = page_store(args.page_cache_redis)
    env = bench_environment(
        database_url, f"http://127.0.0.1:{stripe_port}", logs, args.clients, pages_url
    )
    args.page_store = (
        f"shared by the workers in Redis ({pages_url})"
        if pages_url
        else ("each worker its own, in memory")
    )
    stripe = start(
        "localstripe", [sys.executable, "-m", "bench.stripe_server", str(stripe_port)],
        stripe_port, env, logs,
    )  # fmt: skip
    servers.append(stripe)

    from flask_migrate import upgrade

    from bench import scale
    from marketplace import create_app
    from marketplace.config import database_url as sqlalchemy_url
    from marketplace.extensions import db
    from merchants.demo import DEMO_PASSWORD, load_demo

    def step(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f} s] {message}", flush=True)

    step(f"database {args.database}: create, migrate, load the demo")
    recreate_database(args.postgres, args.database)
    # In-process counts with the page cache off: they measure a page's own queries,
    # not a cache hit (the served app keeps its default cache).
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(database_url), "PAGE_CACHE_SECONDS": 0}
    )
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        logging.getLogger().setLevel(logging.WARNING)
        load_demo(args.epci)
        db.session.commit()
        emails = scale.add_residents(args.clients)
        variant_ids = scale.checkout_variants(40)
        scale.analyze()
        small = scale.catalogue_size()
    wait_http(stripe, "/v1/payment_intents")  # localstripe answers (401 without a key)
    items = _items(app, variant_ids)
    targets = pick_targets(app)
    step(f"demo loaded ({small}); counting SQL statements per request")
    counts_small = count_queries(app, targets, emails[-1], DEMO_PASSWORD, items)

    step(f"scaling to {args.shops} shops, {args.products} products")
    with app.app_context():
        scale.scale_catalogue(args.shops, args.products)
        scale.analyze()
        big = scale.catalogue_size()
    step(f"scaled ({big}); counting SQL statements per request")
    counts_big = count_queries(app, targets, emails[-1], DEMO_PASSWORD, items)
    urls = url_lists(app)
    with app.app_context():
        db.engine.dispose()

    step("starting gunicorn: the app (wsgi:app) and the baseline (bench.baseline:app)")
    env["BENCH_DATABASE_URL"] = sqlalchemy_url(database_url)
    app_server = gunicorn("app", "wsgi:app", args, env, logs)
    base_server = gunicorn("baseline", "bench.baseline:app", args, env, logs)
    servers += [app_server, base_server]
    wait_http(app_server, "/")
    wait_http(base_server, urls["baseline"][0])

    results: list[Result] = []
    step("baseline")
    results.append(
        measure_get("baseline", base_server.port, urls["baseline"], args, args.baseline_requests)
    )
    pages = [name for name in PAGES if name in args.pages]
    for name in pages:
        if isinstance(counts_big.get(name), str):
            path = getattr(targets, name).split("?")[0]
            note = f"skipped: {path} answers {counts_big[name]} in-process"
            if counts_big[name] == "HTTP 404":
                note += " (not written yet in this tree)"
            print(f"  {name}: {note}")
            results.append(Result(name, note=note))
            continue
        step(name)
        results.append(measure_get(name, app_server.port, urls[name], args))
    if not args.skip_checkout:
        step("checkout")
        results.append(measure_checkout(app_server.port, emails, DEMO_PASSWORD, items, args))
    steady: list[Result] = []
    steady_paths = {**urls, "product": urls["every_product"]}
    for n, name in enumerate(PAGES):
        if name not in pages:
            continue
        if isinstance(counts_big.get(name), str):
            steady.append(Result(name, note="skipped: see above"))
            continue
        step(f"{name}, steady state")
        steady.append(
            measure_steady(name, app_server.port, steady_paths[name], args, seed=args.seed + n)
        )
    step("baseline again")
    again = measure_get(
        "baseline (again)", base_server.port, urls["baseline"], args, args.baseline_requests
    )
    results.append(again)
    # The ratios use the better of the two baselines, so drift never flatters a page.
    baseline = max(results[0], again, key=lambda r: r.rps)

    print(
        f"\nComptoir storefront benchmark — {big} on PostgreSQL "
        f"({_postgres_version(database_url)}); machine: {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; "
        f"clients, app and database on the same machine"
    )
    print_counts((f"demo: {small.shops} shops/{small.products} products", counts_small),
                 (f"scaled: {big.shops} shops/{big.products} products", counts_big))  # fmt: skip
    cold_passed = print_results(results, baseline, args)
    passed = print_steady(steady, baseline, args)
    for server in (app_server, base_server):
        log = server.log.read_text(errors="replace")
        crashes = len(re.findall(r"Worker \(pid:\d+\) was sent SIG|exited with code", log))
        if crashes:
            print(f"  ! {server.name}: {crashes} gunicorn worker crash(es), see {server.log}")
    compared = [(counts_small.get(n), counts_big.get(n)) for n in (*PAGES, "checkout")]
    constant = all(a == b for a, b in compared if isinstance(a, int) and isinstance(b, int))
    print(
        f"\nTarget: every page >= {TARGET_RATIO:.0%} of the baseline's rps in the steady "
        f"state: {'PASS' if passed else 'MISS'} (cold walk: "
        f"{'every page at or above' if cold_passed else 'below'} {TARGET_RATIO:.0%}); "
        f"SQL statements per request constant: "
        f"{'yes' if constant else 'NO'}. Total {time.monotonic() - began:.0f} s; logs in {logs}"
    )
    return 1 if args.strict and not (passed and constant) else 0


def _items(app: Any, variant_ids: list[int]) -> list[tuple[int, str]]:
    """(variant id, shop slug) of the variants the checkout clients buy."""
    from sqlalchemy import select

    from marketplace.extensions import db
    from merchants.models import Product, Shop, Variant

    with app.app_context():
        rows = db.session.execute(
            select(Variant.id, Shop.slug)
            .join(Variant.product)
            .join(Product.shop)
            .where(Variant.id.in_(variant_ids))
            .order_by(Variant.id)
        ).all()
    return [(int(v), str(s)) for v, s in rows]


def _postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"


if __name__ == "__main__":
    sys.exit(main())
