"""The baseline the storefront is measured against: a bare Flask endpoint doing one
indexed query, served by the same gunicorn settings as the app.

`gunicorn 'bench.baseline:app'` with `BENCH_DATABASE_URL` set (a SQLAlchemy URL).
"""

from __future__ import annotations

import os

from flask import Flask, abort
from sqlalchemy import create_engine, text

QUERY = text("SELECT id, name FROM shop WHERE slug = :s")

app = Flask(__name__)
# Same pool size as Flask-SQLAlchemy's default, one pool per gunicorn worker.
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=5, pool_pre_ping=False)


@app.get("/shop/<slug>")
def shop(slug: str) -> str:
    with engine.connect() as connection:
        row = connection.execute(QUERY, {"s": slug}).first()
    if row is None:
        abort(404)
    return f"{row.id} {row.name}"
