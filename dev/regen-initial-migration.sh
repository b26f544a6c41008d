#!/usr/bin/env bash
# Until the first release the schema has one migration: regenerate it from the models.
# Usage: dev/regen-initial-migration.sh   (needs PostgreSQL on 127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
db="comptoir_regen_$$"
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db"
trap 'psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
rm -f migrations/versions/*_initial_schema.py
DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db" flask --app wsgi db revision --autogenerate -m "initial schema" >/dev/null
ls migrations/versions/
