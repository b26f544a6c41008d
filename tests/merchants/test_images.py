"""Product photos: real images made with Pillow, hostile files refused, metadata
stripped, renditions made, originals never served, /media safe against traversal."""

from __future__ import annotations

import io
import os
import re
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.models import Role
from merchants.models import ProductImage
from merchants.operations import images as image_ops
from tests.factories import DEFAULT_PASSWORD, ProductFactory, ShopFactory, UserFactory, add_staff
from tests.helpers import csrf_token, login, main_text


@pytest.fixture
def media(app, tmp_path):  # type: ignore[no-untyped-def]
    saved = app.config.get("MEDIA_FOLDER")
    app.config["MEDIA_FOLDER"] = str(tmp_path / "media")
    yield tmp_path / "media"
    app.config["MEDIA_FOLDER"] = saved


@pytest.fixture
def merchant(app, client, media):  # type: ignore[no-untyped-def]
    user = UserFactory(roles=[Role.MERCHANT])
    shop = ShopFactory()
    add_staff(shop, user)
    product = ProductFactory(shop=shop, name="Théière")
    db.session.commit()
    login(client, user.email, DEFAULT_PASSWORD)
    page = f"/boutique/{shop.id}/catalogue/{product.id}/photos"
    return SimpleNamespace(user=user, shop=shop, product=product, page=page, media=media)


def jpeg_with_exif(size: tuple[int, int] = (2400, 1200), orientation: int = 6) -> bytes:
    """A JPEG whose EXIF says "rotate 90°" and carries a camera and GPS position."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "TopSecretSoftware"  # Software
    gps = {1: "N", 2: (44.0, 30.0, 0.0), 3: "E", 4: (0.0, 10.0, 0.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (500, 300), mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 60, 128) if mode == "RGBA" else 0).save(out, "PNG")
    return out.getvalue()


def upload(client, merchant, content: bytes, filename: str = "photo.jpg", alt: str = "Une théière"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, merchant.page)
    return client.post(
        merchant.page,
        data={"csrf_token": token, "alt": alt, "photo": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def stored_images(merchant) -> list[ProductImage]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == merchant.product.id)
            .order_by(ProductImage.position)
        )
    )


def files_in(folder) -> list[str]:  # type: ignore[no-untyped-def]
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _dirs, names in os.walk(folder)
        for name in names
    )


def test_jpeg_is_reencoded_upright_without_exif_in_three_sizes(client, merchant):
    original = jpeg_with_exif()
    response = upload(client, merchant, original)
    assert response.status_code == 302, response.text

    [image] = stored_images(merchant)
    assert image.alt == "Une théière"
    assert (image.width, image.height) == (800, 1600)  # rotated: portrait now
    files = files_in(merchant.media)
    assert files == sorted(image.paths())
    expected = {1600: (800, 1600), 800: (400, 800), 400: (200, 400)}
    for size, dimensions in expected.items():
        path = merchant.media / image.path(size)
        data = path.read_bytes()
        assert b"SecretCam" not in data and b"TopSecret" not in data and b"Exif" not in data
        with Image.open(path) as stored:
            assert stored.format == "WEBP"
            assert stored.size == dimensions
            assert not stored.getexif()
            assert "exif" not in stored.info and "icc_profile" not in stored.info
            # Orientation applied: the blue half, left in the file, is now on top.
            top = stored.convert("RGB").getpixel((stored.width // 2, stored.height // 8))
            bottom = stored.convert("RGB").getpixel((stored.width // 2, stored.height * 7 // 8))
            assert top[2] > 150 and top[0] < 100, top
            assert bottom[0] > 150 and bottom[2] < 100, bottom


def test_media_serves_the_renditions_never_the_original(app, client, merchant):
    original = jpeg_with_exif((900, 600), orientation=1)
    upload(client, merchant, original, filename="théière.jpg")
    [image] = stored_images(merchant)
    assert "th" not in image.key  # the uploaded name is never used

    page = client.get(merchant.page)
    assert f"/media/{image.path(400)}" in page.text
    for size in (1600, 800, 400):
        response = client.get(f"/media/{image.path(size)}")
        assert response.status_code == 200
        assert response.mimetype == "image/webp"
        assert response.data != original
        assert response.data[:4] == b"RIFF" and response.data[8:12] == b"WEBP"
        assert "max-age=31536000" in response.headers["Cache-Control"]
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    anonymous = app.test_client()
    assert anonymous.get(f"/media/{image.path(800)}").status_code == 200  # public, like static


def test_png_with_transparency_is_kept_transparent(client, merchant):
    assert upload(client, merchant, png_bytes(), filename="logo.png").status_code == 302
    [image] = stored_images(merchant)
    with Image.open(merchant.media / image.path(400)) as stored:
        assert stored.mode == "RGBA"
        assert stored.size == (400, 240)
    # A small image is never enlarged.
    with Image.open(merchant.media / image.path(1600)) as stored:
        assert stored.size == (500, 300)


def test_random_bytes_named_jpg_are_refused(client, merchant):
    response = upload(client, merchant, os.urandom(50_000), filename="photo.jpg")
    assert response.status_code == 422
    assert "pas une photo lisible" in response.text
    assert stored_images(merchant) == [] and files_in(merchant.media) == []


def test_truncated_jpeg_is_refused(client, merchant):
    data = jpeg_with_exif((800, 600), orientation=1)
    response = upload(client, merchant, data[: len(data) // 2])
    assert response.status_code == 422
    assert stored_images(merchant) == []


def test_huge_dimension_png_is_refused_without_decoding(client, merchant):
    bomb = png_bytes((10_000, 5_000), mode="1")  # 50 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    response = upload(client, merchant, bomb, filename="bomb.png")
    assert response.status_code == 422
    assert "40 mégapixels" in response.text
    assert stored_images(merchant) == [] and files_in(merchant.media) == []


def test_decompression_bomb_is_refused(client, merchant):
    bomb = png_bytes((20_000, 20_000), mode="1")  # over Pillow's own hard limit too
    response = upload(client, merchant, bomb, filename="bomb.png")
    assert response.status_code == 422
    assert stored_images(merchant) == []


def test_other_formats_and_heavy_files_are_refused(client, merchant):
    gif = io.BytesIO()
    Image.new("RGB", (50, 50)).save(gif, "GIF")
    response = upload(client, merchant, gif.getvalue(), filename="anim.gif")
    assert response.status_code == 422 and "JPEG, PNG ou WebP" in response.text

    heavy = b"\xff\xd8\xff" + os.urandom(image_ops.MAX_UPLOAD_BYTES)
    response = upload(client, merchant, heavy)
    assert response.status_code == 422 and "Photo trop lourde : 8 Mo au plus." in main_text(
        response.text
    )

    way_too_heavy = os.urandom(image_ops.MAX_UPLOAD_BYTES + 1024 * 1024)
    assert upload(client, merchant, way_too_heavy).status_code == 413
    assert stored_images(merchant) == [] and files_in(merchant.media) == []


def test_photos_keep_their_own_limit_above_a_lower_site_wide_one(
    app, client, merchant, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 256 * 1024)
    noise = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert len(out.getvalue()) > 256 * 1024
    assert upload(client, merchant, out.getvalue()).status_code == 302
    assert len(stored_images(merchant)) == 1

    way_too_heavy = os.urandom(image_ops.MAX_UPLOAD_BYTES + 1024 * 1024)
    response = upload(client, merchant, way_too_heavy)
    assert response.status_code == 413
    assert "Envoi trop volumineux : 8 Mo au plus." in main_text(response.text)


def test_alt_text_is_required(client, merchant):
    response = upload(client, merchant, png_bytes(), alt="  ")
    assert response.status_code == 422
    assert stored_images(merchant) == []


def test_reorder_change_alt_and_delete(client, merchant):
    for n in range(3):
        upload(client, merchant, png_bytes((100 + n, 100)), alt=f"Photo {n}")
    first, second, third = stored_images(merchant)
    assert [i.position for i in (first, second, third)] == [0, 1, 2]

    token = csrf_token(client, merchant.page)
    url = f"{merchant.page}/{third.id}/deplacer"
    assert client.post(url, data={"csrf_token": token, "direction": "up"}).status_code == 302
    assert [i.alt for i in stored_images(merchant)] == ["Photo 0", "Photo 2", "Photo 1"]
    url = f"{merchant.page}/{first.id}/deplacer"
    client.post(url, data={"csrf_token": token, "direction": "down"})
    assert [i.alt for i in stored_images(merchant)] == ["Photo 2", "Photo 0", "Photo 1"]

    url = f"{merchant.page}/{second.id}/texte"
    assert client.post(url, data={"csrf_token": token, "alt": "Vue de dessus"}).status_code == 302
    assert "Vue de dessus" in [i.alt for i in stored_images(merchant)]
    client.post(url, data={"csrf_token": token, "alt": ""})
    assert "Vue de dessus" in [i.alt for i in stored_images(merchant)]

    gone = first.paths()
    url = f"{merchant.page}/{first.id}/supprimer"
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    remaining = stored_images(merchant)
    assert [i.alt for i in remaining] == ["Photo 2", "Vue de dessus"]
    assert [i.position for i in remaining] == [0, 1]
    assert not any(p in files_in(merchant.media) for p in gone)
    assert client.get(f"/media/{gone[0]}").status_code == 404


def test_deleting_the_product_deletes_its_files(client, merchant):
    upload(client, merchant, png_bytes())
    assert len(files_in(merchant.media)) == 3
    edit = f"/boutique/{merchant.shop.id}/catalogue/{merchant.product.id}"
    token = csrf_token(client, edit)
    assert client.post(f"{edit}/supprimer", data={"csrf_token": token}).status_code == 302
    assert files_in(merchant.media) == []


def test_another_shops_staff_cannot_touch_photos(app, client, merchant):
    upload(client, merchant, png_bytes())
    [image] = stored_images(merchant)
    intruder = UserFactory(roles=[Role.MERCHANT])
    add_staff(ShopFactory(), intruder)
    db.session.commit()
    client = app.test_client()
    login(client, intruder.email, DEFAULT_PASSWORD)
    token = csrf_token(client, "/compte/")
    for url, data in [
        (merchant.page, {"alt": "x", "photo": (io.BytesIO(png_bytes()), "a.png")}),
        (f"{merchant.page}/{image.id}/texte", {"alt": "pwned"}),
        (f"{merchant.page}/{image.id}/deplacer", {"direction": "down"}),
        (f"{merchant.page}/{image.id}/supprimer", {}),
    ]:
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 404, url
    assert client.get(merchant.page).status_code == 404
    [still] = stored_images(merchant)
    assert still.alt == "Une théière" and len(files_in(merchant.media)) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/media/../instance/comptoir.sqlite3",
        "/media/..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/products/../../secret.txt",
        "/media//etc/passwd",
        "/media/products/ab/" + "ab" * 16 + "-800.webp/../../../secret.txt",
        "/media/secret.txt",
        "/media/original.jpg",
        "/media/products/ab/" + "ab" * 16 + "-801.webp",
    ],
)
def test_media_path_traversal_is_404(client, media, path):
    media.mkdir(parents=True, exist_ok=True)
    (media / "secret.txt").write_text("top secret")
    (media / "original.jpg").write_bytes(b"\xff\xd8original")
    (media.parent / "secret.txt").write_text("top secret")
    response = client.get(path, follow_redirects=True)  # "//" is merged, then 404
    assert response.status_code == 404
    assert b"top secret" not in response.data and b"original" not in response.data


def test_media_url_helpers(app, merchant):
    image = ProductImage(
        product_id=merchant.product.id, alt="x", key="products/ab/" + "ab" * 16, width=1, height=1
    )
    db.session.add(image)
    db.session.flush()
    db.session.refresh(merchant.product)
    with app.test_request_context():
        assert image_ops.image_url(image, 400) == f"/media/products/ab/{'ab' * 16}-400.webp"
        assert image_ops.thumbnail_url(merchant.product, 800).endswith("-800.webp")
        assert re.match(r"http://comptoir\.test/media/", image_ops.image_url(image, external=True))
    image.width, image.height = 500, 300
    with app.test_request_context():
        srcset = image_ops.image_srcset(image)
    assert srcset.split(", ")[0].endswith("-400.webp 400w")
    assert srcset.split(", ")[1].endswith("-800.webp 500w")  # never enlarged
    assert srcset.split(", ")[2].endswith("-1600.webp 500w")
