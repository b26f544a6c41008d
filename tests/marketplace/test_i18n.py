"""Languages: French by default, English on request; the English catalog is complete."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from tests.helpers import csrf_token

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "marketplace" / "translations"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = EN_PO.with_suffix(".mo")
# The same sources and keywords as dev/update-translations.sh.
SOURCES = ("marketplace", "merchants", "delivery", "shop", "ambassadors", "admin")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
UPDATE_HINT = "run dev/update-translations.sh and translate the new entries"

SKIP_LINK_FR = "Aller au contenu"
SKIP_LINK_EN = "Skip to content"


def read_catalog(path: Path = EN_PO) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def test_french_by_default(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert SKIP_LINK_FR in response.text
    assert SKIP_LINK_EN not in response.text


def test_french_when_the_browser_asks_for_it(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert SKIP_LINK_FR in response.text


def test_english_when_the_browser_asks_for_it(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert SKIP_LINK_EN in response.text
    assert SKIP_LINK_FR not in response.text
    assert "Main navigation" in response.text


def test_language_switch_is_kept_in_the_session(client: FlaskClient) -> None:
    token = csrf_token(client, "/")
    response = client.post("/compte/langue", data={"locale": "en", "csrf_token": token})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert session["locale"] == "en"

    # The choice wins over a browser asking for French.
    page = client.get("/", headers={"Accept-Language": "fr"})
    assert SKIP_LINK_EN in page.text
    assert 'value="fr"' in page.text  # the switch now offers French back

    client.post("/compte/langue", data={"locale": "fr", "csrf_token": token})
    assert SKIP_LINK_FR in client.get("/").text


def test_unknown_language_is_ignored(client: FlaskClient) -> None:
    token = csrf_token(client, "/")
    client.post("/compte/langue", data={"locale": "xx", "csrf_token": token})
    with client.session_transaction() as session:
        assert "locale" not in session
    assert SKIP_LINK_FR in client.get("/").text


def test_english_catalog_is_complete() -> None:
    catalog = read_catalog()
    messages = [m for m in catalog if m.id]
    assert messages
    fuzzy = [m.id for m in messages if m.fuzzy]
    untranslated = [
        m.id for m in messages if not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    assert not fuzzy, f"fuzzy entries in {EN_PO.name}: {fuzzy}"
    assert not untranslated, f"untranslated entries in {EN_PO.name}: {untranslated}"
    errors = [(m.id, e) for m, e in catalog.check()]
    assert not errors, errors  # e.g. a %(name)s placeholder lost in translation


def test_compiled_catalog_matches_the_po_file() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog())
    assert EN_MO.read_bytes() == compiled.getvalue(), f"stale {EN_MO.name}: {UPDATE_HINT}"


def test_every_string_in_the_code_is_in_the_catalog() -> None:
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    in_code: dict[str, str] = {}
    for source in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / source, method_map, options_map, keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            in_code.setdefault(msgid, f"{source}/{filename}:{lineno}")
    catalog = read_catalog()
    missing = {msgid: where for msgid, where in in_code.items() if msgid not in catalog}
    assert not missing, f"not in {EN_PO.name} ({UPDATE_HINT}): {missing}"


@pytest.mark.parametrize(
    ("module", "mapping"),
    [
        ("shop.views.common", "STATUS_LABELS"),
        ("shop.views.common", "METHOD_LABELS"),
        ("merchants.views.common", "SHOP_STATUS_LABELS"),
    ],
)
def test_status_labels_are_translated(app: Flask, module: str, mapping: str) -> None:
    labels = getattr(importlib.import_module(module), mapping)
    with app.test_request_context():
        with force_locale("fr"):
            french = {key: str(label) for key, label in labels.items()}
        with force_locale("en"):
            english = {key: str(label) for key, label in labels.items()}
    assert set(french) == set(english)
    for key in labels:
        assert english[key] != key.value, f"{mapping}[{key!r}] shows the raw value"
        assert english[key] != french[key], f"{mapping}[{key!r}] has no English label"


def test_template_text_follows_force_locale_within_a_request(app: Flask) -> None:
    """Templates look their translations up once per request, yet a mail rendered in
    the resident's language inside a French request is in that language."""
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        template = app.jinja_env.from_string(
            '{{ _("Panier") }} · {{ ngettext("%(num)d article", "%(num)d articles", 1) }}'
        )
        assert template.render() == "Panier · 1 article"
        with force_locale("en"):
            assert template.render() == "Basket · 1 item"
        assert template.render() == "Panier · 1 article"
