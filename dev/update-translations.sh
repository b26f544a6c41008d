#!/usr/bin/env bash
# Re-extract the French msgids, merge them into each catalog and compile the .mo files.
# Usage: dev/update-translations.sh   then translate the entries it lists as untranslated
# in marketplace/translations/<lang>/LC_MESSAGES/messages.po and run it again.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VIRTUAL_ENV:-/work/venv}
pybabel=${PYBABEL:-$venv/bin/pybabel}
python=${PYTHON:-$venv/bin/python}
translations=marketplace/translations
pot=$(mktemp --suffix=.pot)
trap 'rm -f "$pot"' EXIT

"$pybabel" -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
  --project=Comptoir -o "$pot" marketplace merchants delivery shop ambassadors admin

for lang in en; do
  if [[ -f "$translations/$lang/LC_MESSAGES/messages.po" ]]; then
    # -N: no fuzzy guesses; a new string stays empty until someone translates it.
    "$pybabel" -q update -N --ignore-obsolete --ignore-pot-creation-date \
      -i "$pot" -d "$translations" -l "$lang"
  else
    "$pybabel" -q init -i "$pot" -d "$translations" -l "$lang"
  fi
done

"$pybabel" compile --statistics -d "$translations"

# What still needs translating (tests/marketplace/test_i18n.py fails on it too).
"$python" - "$translations" <<'PY'
import pathlib
import sys

from babel.messages.pofile import read_po

for po in sorted(pathlib.Path(sys.argv[1]).glob("*/LC_MESSAGES/messages.po")):
    with po.open("rb") as f:
        catalog = read_po(f)
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and (message.fuzzy or not all(strings)):
            print(f"{po}: untranslated: {message.id!r}")
PY
