"""Configuration: the embedded default needs nothing; production refuses unsafe setups."""

from __future__ import annotations

import pytest

from marketplace import create_app
from marketplace.config import ConfigError, database_url, from_environment

PRODUCTION_ENV = {
    "COMPTOIR_ENV": "production",
    "SECRET_KEY": "a-long-random-production-secret",
    "DATABASE_URL": "postgresql://app@db.internal/comptoir",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_live_x",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, restore_celery: None) -> pytest.MonkeyPatch:
    for name in (*PRODUCTION_ENV, "STRIPE_API_BASE", "MAIL_SERVER", "RESERVATION_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_embedded_default_needs_nothing_installed(clean_env, tmp_path) -> None:
    config = from_environment(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'comptoir.sqlite3'}"
    assert config["CELERY"]["task_always_eager"] is True
    assert config["STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert config["STRIPE_LOCAL"] is True
    assert config["MAIL_FOLDER"] == str(tmp_path / "mail")


def test_production_starts_with_real_settings() -> None:
    # In a child process: an app configured for production must not touch this
    # process's extensions (Celery, rate limiter).
    import json
    import subprocess
    import sys

    code = (
        "import json; from marketplace import create_app; c = create_app().config; "
        "print(json.dumps([c['SQLALCHEMY_DATABASE_URI'], "
        "c['CELERY']['task_always_eager'], c['STRIPE_API_BASE']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**PRODUCTION_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    uri, eager, stripe_base = json.loads(result.stdout.strip().splitlines()[-1])
    assert uri.startswith("postgresql+psycopg://")
    assert eager is False
    assert stripe_base is None


def test_production_without_secret_key_refuses_to_start(clean_env) -> None:
    for name, value in PRODUCTION_ENV.items():
        if name != "SECRET_KEY":
            clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_with_embedded_payments_refuses_to_start(clean_env) -> None:
    clean_env.setenv("COMPTOIR_ENV", "production")
    clean_env.setenv("SECRET_KEY", "a-long-random-production-secret")
    with pytest.raises(ConfigError, match="embedded payment method"):
        create_app()


def test_production_refusal_is_printed_by_the_cli(clean_env) -> None:
    import subprocess
    import sys

    env = {"COMPTOIR_ENV": "production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "from marketplace import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "refuses to start in production" in result.stderr


def test_postgres_urls_use_psycopg3() -> None:
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_tunables_come_from_the_environment_when_set(clean_env, tmp_path) -> None:
    assert "RESERVATION_MINUTES" not in from_environment(str(tmp_path))  # code default
    clean_env.setenv("RESERVATION_MINUTES", "20")
    clean_env.setenv("MAP_TILE_URL", "https://tiles.example.org/{z}/{x}/{y}.png")
    clean_env.setenv("STRIPE_CONNECT_ENABLED", "true")
    config = from_environment(str(tmp_path))
    assert config["RESERVATION_MINUTES"] == 20
    assert config["MAP_TILE_URL"].startswith("https://tiles.example.org/")
    assert config["STRIPE_CONNECT_ENABLED"] is True


def test_request_size_limit_defaults_to_16_mib_and_comes_from_the_environment(
    clean_env, tmp_path
) -> None:
    clean_env.delenv("MAX_CONTENT_LENGTH", raising=False)
    assert from_environment(str(tmp_path))["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    clean_env.setenv("MAX_CONTENT_LENGTH", "1048576")
    assert from_environment(str(tmp_path))["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("value", ["16M", "0", "-5", ""])
def test_a_request_size_limit_that_is_not_bytes_refuses_to_start(
    clean_env, tmp_path, value
) -> None:
    clean_env.setenv("MAX_CONTENT_LENGTH", value)
    with pytest.raises(ConfigError, match="MAX_CONTENT_LENGTH"):
        from_environment(str(tmp_path))
