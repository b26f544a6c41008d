"""A real addok server (the BAN's geocoder) loaded with a sample made for the tests.

addok and addok-france live in their own virtualenv (their pins are not ours):
`bash tests/fixtures/addok/install.sh` makes `.venv-addok`, or `ADDOK_BIN` names
another `addok` executable. Once per session the sample of the demo territory
(`tests/fixtures/addok/sample.ndjson`, BAN ndjson) is loaded into its own Redis
database (ADDOK_REDIS_DB, default 15, emptied before and after) with `addok batch`
and `addok ngrams`; `addok serve` then answers the BAN's HTTP API on a free port.
Without addok the tests are skipped locally and fail under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from tests.conftest import TEST_REDIS_URL, _free_port, service_missing

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "addok"
SAMPLE = FIXTURES / "sample.ndjson"
# Indexes and documents share one database: their keys have distinct prefixes.
ADDOK_REDIS_DB = int(os.environ.get("ADDOK_REDIS_DB", "15"))
START_TIMEOUT = 20.0

# addok-france's processors, as the BAN's own addok runs them.
CONFIG = """\
REDIS = {{"host": {host!r}, "port": {port}, "indexes": {{"db": {db}}}, "documents": {{"db": {db}}}}}
BATCH_WORKERS = 1
LOG_QUERIES = True  # queries.log in ADDOK_LOG_DIR, written before the answer is sent
QUERY_PROCESSORS_PYPATHS = [
    "addok.helpers.text.check_query_length",
    "addok_france.extract_address",
    "addok_france.clean_query",
    "addok_france.remove_leading_zeros",
]
PROCESSORS_PYPATHS = [
    "addok.helpers.text.tokenize",
    "addok.helpers.text.normalize",
    "addok_france.glue_ordinal",
    "addok_france.fold_ordinal",
    "addok_france.flag_housenumber",
    "addok.helpers.text.synonymize",
]
SEARCH_RESULT_PROCESSORS_PYPATHS = [
    "addok.helpers.results.match_housenumber",
    "addok_france.make_labels",
    "addok.helpers.results.score_by_importance",
    "addok.helpers.results.score_by_autocomplete_distance",
    "addok.helpers.results.score_by_ngram_distance",
    "addok.helpers.results.score_by_geo_distance",
    "addok.helpers.results.adjust_scores",
]
FILTERS = ["type", "postcode", "citycode"]
"""


def addok_executable() -> Path | None:
    configured = os.environ.get("ADDOK_BIN")
    path = Path(configured) if configured else ROOT / ".venv-addok" / "bin" / "addok"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@dataclass
class Addok:
    """The addok installation of the session, its config and its loaded index."""

    executable: Path
    env: dict[str, str]
    workdir: Path

    def run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.executable), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            pytest.fail(f"addok {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def server(self) -> AddokServer:
        folder = self.workdir / f"serve-{time.monotonic_ns()}"
        folder.mkdir()
        return AddokServer(self, _free_port(), folder)


@dataclass
class AddokServer:
    """`addok serve` (addok's WSGI app) in a subprocess, logging in its own folder."""

    addok: Addok
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> AddokServer:
        command = [str(self.addok.executable), "serve", "--host", "127.0.0.1"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env={**self.addok.env, "ADDOK_LOG_DIR": str(self.folder)},
                cwd=self.addok.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"addok serve did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def _healthy(self) -> bool:
        try:
            with urlopen(f"http://{self.domain}/health", timeout=1) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    @property
    def log_path(self) -> Path:
        return self.folder / "serve.log"

    def searches(self) -> int:
        """How many searches the server has been asked (addok's query log)."""
        queries = self.folder / "queries.log"
        return len(queries.read_text().splitlines()) if queries.exists() else 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def addok(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Addok]:
    """addok with the sample loaded in its Redis database, emptied afterwards."""
    import redis

    executable = addok_executable()
    if executable is None:
        service_missing(
            "addok",
            FileNotFoundError(
                "no addok executable (run `bash tests/fixtures/addok/install.sh` or set ADDOK_BIN)"
            ),
        )
        return
    redis_parts = urlsplit(TEST_REDIS_URL)
    client = redis.Redis(
        host=redis_parts.hostname or "127.0.0.1",
        port=redis_parts.port or 6379,
        db=ADDOK_REDIS_DB,
        socket_connect_timeout=2,
    )
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    workdir = tmp_path_factory.mktemp("addok")
    config = workdir / "addok_test.conf"
    config.write_text(
        CONFIG.format(
            host=redis_parts.hostname or "127.0.0.1",
            port=redis_parts.port or 6379,
            db=ADDOK_REDIS_DB,
        )
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("ADDOK_")}
    env.update(ADDOK_CONFIG_MODULE=str(config), ADDOK_LOG_DIR=str(workdir), PYTHONUNBUFFERED="1")
    installation = Addok(executable, env, workdir)
    try:
        installation.run("batch", str(SAMPLE))
        installation.run("ngrams")
        yield installation
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def addok_server(addok: Addok) -> Iterator[AddokServer]:
    """The session's addok HTTP server on the sample."""
    server = addok.server().start()
    try:
        yield server
    finally:
        server.stop()
