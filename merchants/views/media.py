"""Public media: the re-encoded product photos, at /media/<path>.

Only names the application generated are served (a strict pattern, then Flask's
safe join inside the media folder), so nothing else on disk is reachable. Names are
random and never reused, so the files are cached for a year.
"""

from __future__ import annotations

import re

from flask import Response, abort, send_from_directory
from flask.blueprints import BlueprintSetupState

from ..operations.images import media_folder
from .common import bp

MEDIA_PATH = re.compile(r"products/[0-9a-f]{2}/[0-9a-f]{32}-(?:1600|800|400)\.webp")
ONE_YEAR = 365 * 24 * 3600


def serve_media(path: str) -> Response:
    """A product photo rendition (public, like static files)."""
    if not MEDIA_PATH.fullmatch(path):
        abort(404)
    response = send_from_directory(
        media_folder(), path, mimetype="image/webp", max_age=ONE_YEAR, conditional=True
    )
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response


@bp.record_once
def _register(state: BlueprintSetupState) -> None:
    # Outside the blueprint's /boutique prefix: the storefront uses these URLs too.
    state.app.add_url_rule("/media/<path:path>", "media_file", serve_media)
