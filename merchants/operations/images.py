"""Product photos: checked, re-encoded and stored under the media folder.

An upload is never kept or served as sent. It must be a JPEG, PNG or WebP of at
most 8 MB and 40 megapixels (checked from the header before any pixel is decoded,
so a small file claiming huge dimensions is refused without using the memory).
It is decoded, turned upright (EXIF orientation), stripped of every metadata (EXIF,
GPS, XMP, ICC) and written as WebP renditions of 1600, 800 and 400 pixels on the
longest side, under random names: `<MEDIA_FOLDER>/products/<ab>/<token>-<size>.webp`.
"""

from __future__ import annotations

import io
import logging
import secrets
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from flask import current_app, url_for
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select

from marketplace.errors import size_text
from marketplace.extensions import after_commit, db

from ..models import IMAGE_SIZES, Product, ProductImage
from .catalogue import _

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_IMAGES_PER_PRODUCT = 20
ALT_MAX = 300
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
WEBP_QUALITY = 82

# Pillow refuses (DecompressionBombError) images over twice this and warns over it;
# the warning is turned into a refusal in `normalise`.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageRejected(ValueError):
    """The upload is not an acceptable photo; the message says why, in French."""


def media_folder() -> Path:
    """Where renditions are stored: config MEDIA_FOLDER, else <instance>/media."""
    configured = current_app.config.get("MEDIA_FOLDER")
    return Path(configured or Path(current_app.instance_path) / "media")


def read_upload(stream: IO[bytes]) -> bytes:
    """The uploaded bytes, refusing more than MAX_UPLOAD_BYTES without reading further."""
    data = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            _("Photo trop lourde : %(size)s au plus.", size=size_text(MAX_UPLOAD_BYTES))
        )
    if not data:
        raise ImageRejected(_("Choisissez une photo à envoyer."))
    return data


def _not_an_image() -> ImageRejected:
    return ImageRejected(_("Ce fichier n'est pas une photo lisible (JPEG, PNG ou WebP)."))


def _too_big() -> ImageRejected:
    return ImageRejected(_("Photo trop grande : 40 mégapixels au plus."))


def _open_checked(data: bytes) -> Image.Image:
    """Open from the header only and check format and dimensions."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_big() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _not_an_image() from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(_("Format refusé : envoyez une photo JPEG, PNG ou WebP."))
    width, height = image.size
    if width < 1 or height < 1:
        raise _not_an_image()
    if width * height > MAX_PIXELS:
        raise _too_big()
    return image


def normalise(data: bytes) -> dict[int, tuple[bytes, int, int]]:
    """The WebP renditions {size: (bytes, width, height)} of an uploaded photo."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            _open_checked(data).verify()  # structure and checksums, no decoding
            image = _open_checked(data)  # verify() leaves the image unusable
            if image.format == "JPEG":
                # Decode at a reduced scale when the photo is much larger than needed.
                image.draft("RGB", (IMAGE_SIZES[0], IMAGE_SIZES[0]))
            image.load()
            upright = ImageOps.exif_transpose(image)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_big() from None
        except (OSError, SyntaxError, ValueError, TypeError, EOFError):
            raise _not_an_image() from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    converted = upright.convert(mode)
    # A new image from the pixels alone: no EXIF, GPS, XMP, ICC or comment survives.
    pixels = Image.frombytes(mode, converted.size, converted.tobytes())
    renditions: dict[int, tuple[bytes, int, int]] = {}
    for size in IMAGE_SIZES:
        copy = pixels.copy()
        copy.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarges
        out = io.BytesIO()
        copy.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
        renditions[size] = (out.getvalue(), copy.width, copy.height)
    return renditions


def _new_key() -> str:
    token = secrets.token_hex(16)
    return f"products/{token[:2]}/{token}"


def _write(key: str, renditions: dict[int, tuple[bytes, int, int]]) -> list[Path]:
    root = media_folder()
    written = []
    for size, (content, _w, _h) in renditions.items():
        path = root / f"{key}-{size}.webp"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def remove_files(paths: Iterable[str]) -> None:
    """Delete renditions (relative media paths); missing files are fine."""
    root = media_folder().resolve()
    for relative in paths:
        path = (root / relative).resolve()
        if root in path.parents:
            path.unlink(missing_ok=True)


def remove_files_after_commit(paths: list[str]) -> None:
    """Delete the files once the rows that name them are gone for good."""
    if not paths:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def remove() -> None:
        with app.app_context():
            remove_files(paths)

    after_commit(remove)


def add_image(product: Product, stream: IO[bytes], alt: str) -> ProductImage:
    """Check, re-encode and store an uploaded photo as the product's last one.

    Raises ImageRejected (message in French) without writing anything. The files
    are written before the row: if the transaction then rolls back, they are
    orphans with random names that nothing links to (never a row without files).
    """
    clean_alt = (alt or "").strip()
    if not clean_alt:
        raise ImageRejected(
            _("Décrivez la photo en quelques mots (texte alternatif, lu aux personnes aveugles).")
        )
    if len(clean_alt) > ALT_MAX:
        raise ImageRejected(_("Texte alternatif trop long : 300 caractères au plus."))
    count = db.session.scalar(
        select(func.count()).select_from(ProductImage).where(ProductImage.product_id == product.id)
    )
    if (count or 0) >= MAX_IMAGES_PER_PRODUCT:
        raise ImageRejected(_("Vingt photos au plus par produit."))
    renditions = normalise(read_upload(stream))
    key = _new_key()
    _write(key, renditions)
    _content, width, height = renditions[IMAGE_SIZES[0]]
    last = db.session.scalar(
        select(func.max(ProductImage.position)).where(ProductImage.product_id == product.id)
    )
    image = ProductImage(
        product_id=product.id,
        position=(last + 1) if last is not None else 0,
        alt=clean_alt,
        key=key,
        extension="webp",
        width=width,
        height=height,
    )
    db.session.add(image)
    db.session.flush()
    db.session.expire(product, ["images"])
    return image


def set_alt(image: ProductImage, alt: str) -> None:
    clean_alt = (alt or "").strip()
    if not clean_alt:
        raise ImageRejected(
            _("Décrivez la photo en quelques mots (texte alternatif, lu aux personnes aveugles).")
        )
    if len(clean_alt) > ALT_MAX:
        raise ImageRejected(_("Texte alternatif trop long : 300 caractères au plus."))
    image.alt = clean_alt
    db.session.flush()


def move_image(image: ProductImage, offset: int) -> None:
    """Move the photo earlier (-1) or later (+1); the first one is the main photo."""
    images = list(
        db.session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == image.product_id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    )
    index = images.index(image)
    target = max(0, min(len(images) - 1, index + offset))
    images.insert(target, images.pop(index))
    for position, item in enumerate(images):
        item.position = position
    db.session.flush()


def delete_image(image: ProductImage) -> None:
    """Remove the photo; its files go once the transaction commits."""
    paths = image.paths()
    product_id = image.product_id
    db.session.delete(image)
    db.session.flush()
    remaining = db.session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.position, ProductImage.id)
    )
    for position, item in enumerate(remaining):
        item.position = position
    db.session.flush()
    remove_files_after_commit(paths)


def image_of_product(product: Product, image_id: int) -> ProductImage | None:
    return db.session.scalar(
        select(ProductImage).where(
            ProductImage.id == image_id, ProductImage.product_id == product.id
        )
    )


def image_url(image: ProductImage, size: int = 800, external: bool = False) -> str:
    """URL of a rendition (1600, 800 or 400 px), for pages, mails and the API."""
    return url_for("media_file", path=image.path(size), _external=external)


def rendition_width(image: ProductImage, size: int) -> int:
    """Width in pixels of a rendition (small photos are never enlarged)."""
    scale = min(1.0, size / max(image.width, image.height, 1))
    return max(1, round(image.width * scale))


def image_srcset(image: ProductImage) -> str:
    """`srcset` of an <img>: every rendition with its real width."""
    return ", ".join(
        f"{image_url(image, size)} {rendition_width(image, size)}w" for size in sorted(IMAGE_SIZES)
    )


def thumbnail_url(product: Product, size: int = 400) -> str | None:
    """URL of the product's main photo at that size, or None without photos.

    Load `Product.images` with selectinload when listing many products.
    """
    return image_url(product.images[0], size) if product.images else None
