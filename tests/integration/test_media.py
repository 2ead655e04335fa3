"""Images for emails: uploads through the dashboard, the builder's JSON upload and the API, real
Pillow-made files, refusals that say why, the public URL recipients load, and S3 (moto server)."""

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from PIL import Image

from app.extensions import db
from app.models import MediaFile
from app.services.content import media
from app.services.errors import NotFound, ValidationError
from tests.support import free_port, port_answers, stop_process

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>'
)
HTML_PAGE = b"<!doctype html><html><body><script>alert(1)</script><h1>Not an image</h1></body></html>"
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def image_bytes(fmt: str = "PNG", size=(40, 30), color=(200, 30, 60), **save) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt, **save)
    return buf.getvalue()


@pytest.fixture
def media_dir(app, tmp_path, monkeypatch):
    """The web app's MEDIA_DIR, a folder of this test's own."""
    path = tmp_path / "media"
    monkeypatch.setitem(app.config, "MEDIA_DIR", str(path))
    return path


@pytest.fixture
def config(service_app, tmp_path):
    """Settings for calling the service directly (local storage in this test's folder)."""
    return {**service_app.config, "MEDIA_DIR": str(tmp_path / "svc-media")}


def stored_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def csrf_token(client) -> str:
    html = client.get("/images/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def builder_upload(client, data: bytes, filename: str, token: str, content_type="application/octet-stream"):
    return client.post(
        "/images/upload",
        data={"file": (io.BytesIO(data), filename, content_type)},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )


def api_upload(api, data: bytes, filename: str, content_type="application/octet-stream"):
    return api.post("/images", data={"file": (io.BytesIO(data), filename, content_type)})


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


# The builder's upload and the public URL ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_builder_upload_keeps_each_format_and_the_public_url_serves_its_bytes(app, client, media_dir, fmt):
    data = image_bytes(fmt, size=(64, 48))
    resp = builder_upload(client, data, f"Spring sale.{EXTENSIONS[fmt]}", csrf_token(client))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"id", "url", "width", "height", "filename"}
    assert (body["width"], body["height"]) == (64, 48) and body["filename"] == f"Spring sale.{EXTENSIONS[fmt]}"
    key = body["url"].rsplit("/", 1)[1]
    assert body["url"] == f"http://herald.test/media/{key}"
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{23}\." + EXTENSIONS[fmt], key)
    assert (media_dir / key).read_bytes() == data
    assert stored_files(media_dir) == [key]  # the temporary file was renamed into place, not left behind

    recipient = app.test_client()  # a mail client: no session
    got = recipient.get(path_of(body["url"]))
    assert got.status_code == 200 and got.data == data
    assert got.mimetype == TYPES[fmt]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in got.headers["Cache-Control"] and "public" in got.headers["Cache-Control"]
    assert "Set-Cookie" not in got.headers
    again = recipient.get(path_of(body["url"]), headers={"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304


def test_a_png_named_jpg_is_kept_as_a_png(app, api, media_dir):
    png = image_bytes("PNG")
    resp = api_upload(api, png, "photo.jpg", "image/jpeg")
    assert resp.status_code == 201, resp.json
    assert resp.json["content_type"] == "image/png" and resp.json["url"].endswith(".png")
    assert resp.json["filename"] == "photo.jpg"
    got = app.test_client().get(path_of(resp.json["url"]))
    assert got.mimetype == "image/png" and got.data == png


def test_a_rotated_jpeg_reports_the_size_people_see(client, media_dir):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    resp = builder_upload(client, image_bytes("JPEG", size=(80, 20), exif=exif), "phone.jpg", csrf_token(client))
    assert (resp.json["width"], resp.json["height"]) == (20, 80)


def test_the_builder_upload_needs_the_csrf_header_and_a_file(client, media_dir):
    resp = client.post("/images/upload", data={"file": (io.BytesIO(image_bytes()), "a.png")})
    assert resp.status_code == 400 and "reload" in resp.get_json()["error"]
    resp = client.post("/images/upload", data={}, headers={"X-CSRFToken": csrf_token(client)})
    assert resp.status_code == 422 and "Choose an image" in resp.get_json()["error"]
    assert stored_files(media_dir) == []


def test_a_body_over_the_servers_limit_answers_413_json_to_the_builder(app, client, media_dir, monkeypatch):
    token = csrf_token(client)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2000)
    resp = builder_upload(client, image_bytes(size=(300, 300), color=None) + b"\0" * 5000, "big.png", token)
    assert resp.status_code == 413 and "at most 5 MB" in resp.get_json()["error"]
    assert stored_files(media_dir) == []


def test_signed_out_visitors_cannot_upload_or_browse(app, media_dir):
    anon = app.test_client()
    for resp in (anon.get("/images/"), anon.get("/images/picker"), anon.post("/images/upload")):
        assert resp.status_code in (302, 400) and resp.status_code != 200
    assert anon.get("/images/").headers["Location"].startswith("/login")


# Refusals -------------------------------------------------------------------------------------------

BAD_FILES = [
    (SVG_WITH_SCRIPT, "logo.svg", "image/svg+xml", "“logo.svg” is not a PNG, JPEG, GIF or WebP image"),
    (SVG_WITH_SCRIPT, "logo.png", "image/png", "“logo.png” is not a PNG, JPEG, GIF or WebP image"),
    (HTML_PAGE, "page.png", "image/png", "“page.png” is not a PNG, JPEG, GIF or WebP image"),
    (b"", "empty.png", "image/png", "“empty.png” is empty"),
    (
        image_bytes() + b"\0" * (5 * 1024 * 1024),
        "huge.png",
        "image/png",
        "“huge.png” is 5 MB; an image may be at most 5 MB",
    ),
    (image_bytes("PNG")[:60], "cut.png", "image/png", "“cut.png” looks like a PNG image but is damaged"),
    (b"BM" + b"\0" * 200, "old.bmp", "image/bmp", "“old.bmp” is not a PNG, JPEG, GIF or WebP image"),
]


@pytest.mark.parametrize("data,filename,content_type,message", BAD_FILES, ids=[f[1] for f in BAD_FILES])
def test_files_that_are_not_acceptable_images_are_refused_with_the_reason(
    ctx, client, api, media_dir, data, filename, content_type, message
):
    resp = builder_upload(client, data, filename, csrf_token(client), content_type)
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"].startswith(message)

    resp = api_upload(api, data, filename, content_type)
    assert resp.status_code == 422
    error = resp.json["error"]
    assert error["code"] == "invalid" and error["message"].startswith(message)
    assert error["fields"]["file"].startswith(message)

    page = client.post(
        "/images/",
        data={"file": (io.BytesIO(data), filename, content_type), "csrf_token": csrf_token(client)},
    )
    assert page.status_code == 422 and "is-invalid" in page.get_data(as_text=True)
    assert message in page.get_data(as_text=True)

    assert stored_files(media_dir) == []
    assert db.session.scalar(db.select(db.func.count()).select_from(MediaFile)) == 0


def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(config, ctx, workspace):
    buf = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(buf, format="PNG")  # tiny file, 50 million pixels
    with pytest.raises(ValidationError) as err:
        media.store_image(workspace.id, "bomb.png", buf.getvalue(), config=config)
    assert "“bomb.png” is 10000×5000 pixels" in err.value.message and err.value.fields["file"]


def test_a_lower_size_limit_applies(config, ctx, workspace):
    with pytest.raises(ValidationError) as err:
        media.store_image(
            workspace.id, "a.png", image_bytes(size=(300, 300)), config={**config, "MEDIA_MAX_BYTES": 100}
        )
    assert "may be at most 100 bytes" in err.value.message


def test_folder_names_and_control_characters_never_reach_the_stored_name(config, ctx, workspace):
    image = media.store_image(workspace.id, "C:\\Users\\ana\\..\\evil\x00\u202ename.png", image_bytes(), config=config)
    assert image.filename == "evilname.png"
    assert os.path.dirname(os.path.join(config["MEDIA_DIR"], image.key)) == config["MEDIA_DIR"]


# Deduplication, tenancy, deletion ---------------------------------------------------------------


def test_the_same_bytes_twice_are_kept_once_per_workspace(client, api, media_dir, make_workspace, config):
    data = image_bytes("WEBP")
    first = builder_upload(client, data, "a.webp", csrf_token(client)).get_json()
    second = api_upload(api, data, "copy of a.webp")
    assert second.status_code == 201 and second.json["id"] == first["id"] and second.json["url"] == first["url"]
    assert len(stored_files(media_dir)) == 1
    assert api.get("/images").json["total"] == 1

    other = make_workspace("Other", "other@example.com")
    theirs = media.store_image(other.id, "a.webp", data, config=config)
    db.session.commit()
    assert theirs.id != first["id"] and theirs.key not in first["url"]


def test_another_workspaces_image_answers_404(client, api, media_dir, make_workspace, config):
    other = make_workspace("Other", "other@example.com")
    theirs = media.store_image(other.id, "secret-plan.png", image_bytes(color=(1, 2, 3)), config=config)
    db.session.commit()
    assert api.get(f"/images/{theirs.id}").status_code == 404
    assert api.delete(f"/images/{theirs.id}").status_code == 404
    assert api.get("/images").json["total"] == 0
    resp = client.post(f"/images/{theirs.id}/delete", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 404
    assert "secret-plan" not in client.get("/images/").get_data(as_text=True)
    assert "secret-plan" not in client.get("/images/picker").get_data(as_text=True)
    with pytest.raises(NotFound):
        media.get_image(other.id + 1000, theirs.id)
    assert os.path.exists(os.path.join(config["MEDIA_DIR"], theirs.key))


def test_deleting_on_the_page_removes_the_file_and_the_public_url(app, client, media_dir):
    body = builder_upload(client, image_bytes("GIF"), "wave.gif", csrf_token(client)).get_json()
    key = body["url"].rsplit("/", 1)[1]
    assert (media_dir / key).exists()
    resp = client.post(f"/images/{body['id']}/delete", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/images/"
    assert not (media_dir / key).exists()
    assert app.test_client().get(path_of(body["url"])).status_code == 404
    assert "“wave.gif” deleted." in client.get("/images/").get_data(as_text=True)


def test_deleting_through_the_api_answers_204_and_removes_the_file(api, media_dir):
    created = api_upload(api, image_bytes("JPEG"), "team.jpg").json
    key = created["url"].rsplit("/", 1)[1]
    resp = api.delete(f"/images/{created['id']}")
    assert resp.status_code == 204 and resp.data == b""
    assert not (media_dir / key).exists()
    assert api.get(f"/images/{created['id']}").status_code == 404


def test_a_transaction_that_does_not_commit_leaves_no_file_behind(config, ctx, workspace):
    image = media.store_image(workspace.id, "a.png", image_bytes(), config=config)
    path = Path(config["MEDIA_DIR"]) / image.key
    assert path.exists()
    db.session.rollback()
    assert not path.exists()
    kept = media.store_image(workspace.id, "b.png", image_bytes(), config=config)
    db.session.commit()
    assert (Path(config["MEDIA_DIR"]) / kept.key).exists()
    # A delete that is rolled back keeps the file.
    media.delete_image(workspace.id, kept.id, config=config)
    db.session.rollback()
    db.session.commit()
    assert (Path(config["MEDIA_DIR"]) / kept.key).exists()
    assert media.get_image(workspace.id, kept.id).key == kept.key


# The public URL cannot be walked out of --------------------------------------------------------------


def test_unknown_keys_and_traversal_answer_404(app, client, media_dir):
    body = builder_upload(client, image_bytes(), "a.png", csrf_token(client)).get_json()
    key = body["url"].rsplit("/", 1)[1]
    (media_dir / "notes.txt").write_text("private")
    secret = Path(app.instance_path) / "secret_key"
    anon = app.test_client()
    for path in (
        "/media/" + "A" * 24 + ".png",
        "/media/" + key.replace(".png", ".gif"),
        "/media/notes.txt",
        "/media/..",
        "/media/../secret_key",
        "/media/..%2Fsecret_key",
        "/media/%2e%2e%2fsecret_key",
        "/media/%2E%2E",
        "/media/....//secret_key",
        "/media/" + key + "%00.png",
        "/media/",
    ):
        resp = anon.get(path)
        assert resp.status_code == 404, path
        assert b"private" not in resp.data
        if secret.exists():
            assert secret.read_bytes().strip() not in resp.data


# Pages ---------------------------------------------------------------------------------------------------


def test_the_images_page_lists_thumbnails_and_uploads_without_javascript(client, media_dir):
    page = client.get("/images/").get_data(as_text=True)
    assert 'href="/images/"' in page and ">Images<" in page  # in the navigation
    assert "No images yet" in page and 'enctype="multipart/form-data"' in page
    resp = client.post(
        "/images/",
        data={
            "csrf_token": csrf_token(client),
            "file": [(io.BytesIO(image_bytes("PNG")), "hero.png"), (io.BytesIO(HTML_PAGE), "x.png")],
        },
    )
    assert resp.status_code == 302
    page = client.get("/images/").get_data(as_text=True)
    assert "Uploaded “hero.png”." in page and "“x.png” is not a PNG, JPEG, GIF or WebP image" in page
    image = re.search(r'<img src="(http://herald.test/media/[^"]+)" alt="hero"', page)
    assert image, page
    assert "40×30" in page and 'data-confirm="Delete “hero.png”?' in page
    assert len(stored_files(media_dir)) == 1


def test_the_picker_fragment_offers_each_image_as_a_button(client, media_dir):
    empty = client.get("/images/picker").get_data(as_text=True)
    assert "<html" not in empty and "No images yet" in empty
    token = csrf_token(client)
    builder_upload(client, image_bytes(color=(9, 9, 9)), "old-logo.png", token)
    newest = builder_upload(client, image_bytes("JPEG"), "team_photo.jpg", token).get_json()
    html = client.get("/images/picker").get_data(as_text=True)
    assert "<html" not in html and 'class="hb-image-picker"' in html
    choices = re.findall(
        r'<button type="button" class="hb-image-choice[^"]*" data-url="([^"]+)" data-alt="([^"]*)"', html
    )
    assert choices[0] == (newest["url"], "team photo") and choices[1][1] == "old logo"


# The API ----------------------------------------------------------------------------------------------------


def conforms(document, value, schema_name):
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(value)]
    assert not errors, errors


def test_api_uploads_lists_newest_first_and_shows_images(api, media_dir, document):
    ids = []
    for i, fmt in enumerate(["PNG", "JPEG", "GIF"]):
        resp = api_upload(api, image_bytes(fmt, color=(i, i, i)), f"pic{i}.{EXTENSIONS[fmt]}")
        assert resp.status_code == 201, resp.json
        conforms(document, resp.json, "Image")
        ids.append(resp.json["id"])
    page = api.get("/images?per_page=2")
    assert page.status_code == 200 and page.json["total"] == 3 and page.json["per_page"] == 2
    conforms(document, page.json, "ImagePage")
    assert [item["id"] for item in page.json["items"]] == [ids[2], ids[1]]
    assert [item["id"] for item in api.get("/images?page=2&per_page=2").json["items"]] == [ids[0]]
    shown = api.get(f"/images/{ids[1]}").json
    assert shown["content_type"] == "image/jpeg" and (shown["width"], shown["height"]) == (40, 30)
    assert shown["size_bytes"] > 0
    conforms(document, shown, "Image")


def test_api_upload_needs_a_multipart_file(api):
    resp = api.post("/images", json={"file": "aGVsbG8="})
    assert resp.status_code == 415 and resp.json["error"]["code"] == "unsupported_media_type"
    resp = api.post("/images", data={"other": "x"}, content_type="multipart/form-data")
    assert resp.status_code == 422 and resp.json["error"]["fields"] == {"file": "Required."}
    assert api.c.post("/api/v1/images", data={"file": (io.BytesIO(image_bytes()), "a.png")}).status_code == 401


def test_the_image_operations_are_in_the_openapi_document(document):
    paths = document["paths"]
    assert set(paths["/images"]) == {"get", "post"} and set(paths["/images/{image_id}"]) == {"get", "delete"}
    upload = paths["/images"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data"}
    assert {"201", "401", "413", "415", "422"} <= set(upload["responses"])
    assert "content" not in paths["/images/{image_id}"]["delete"]["responses"]["204"]
    assert paths["/images/{image_id}"]["get"]["responses"]["404"] == {"$ref": "#/components/responses/NotFound"}
    assert "Image" in document["components"]["schemas"] and "ImagePage" in document["components"]["schemas"]
    assert any(tag["name"] == "Images" for tag in document["tags"])


# S3 (moto in server mode) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not port_answers("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    name = f"herald-test-{free_port()}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return client, name


def test_images_go_to_s3_with_their_type_and_cache_headers(config, ctx, workspace, s3_endpoint, bucket):
    client, name = bucket
    s3 = {**config, "S3_BUCKET": name, "S3_ENDPOINT_URL": s3_endpoint, "S3_PUBLIC_URL": None}
    data = image_bytes("WEBP", size=(120, 60))
    image = media.store_image(workspace.id, "banner.png", data, config=s3)
    db.session.commit()
    assert image.storage == "s3" and image.content_type == "image/webp" and image.key.endswith(".webp")
    assert image.url == f"{s3_endpoint}/{name}/herald/{image.key}"
    obj = client.get_object(Bucket=name, Key=f"herald/{image.key}")
    assert obj["Body"].read() == data and obj["ContentType"] == "image/webp"
    assert obj["CacheControl"] == "public, max-age=31536000, immutable"
    assert not os.path.exists(config["MEDIA_DIR"])  # nothing on local disk

    assert media.store_image(workspace.id, "again.webp", data, config=s3).id == image.id  # deduplicated
    public = {**s3, "S3_PUBLIC_URL": "https://cdn.example.com/assets/"}
    other = media.store_image(workspace.id, "b.png", image_bytes(), config=public)
    db.session.commit()
    assert other.url == f"https://cdn.example.com/assets/herald/{other.key}"

    target = media._Target.of(s3)
    assert media._s3_client(target) is media._s3_client(media._Target.of(public))  # one client, reused

    media.delete_image(workspace.id, image.id, config=s3)
    assert client.list_objects_v2(Bucket=name, Prefix=f"herald/{image.key}")["KeyCount"] == 1  # not before commit
    db.session.commit()
    assert client.list_objects_v2(Bucket=name, Prefix=f"herald/{image.key}")["KeyCount"] == 0

    rolled_back = media.store_image(workspace.id, "c.png", image_bytes(color=(5, 5, 5)), config=s3)
    key = f"herald/{rolled_back.key}"
    assert client.list_objects_v2(Bucket=name, Prefix=key)["KeyCount"] == 1
    db.session.rollback()
    assert client.list_objects_v2(Bucket=name, Prefix=key)["KeyCount"] == 0


def test_api_uploads_go_to_the_bucket_when_one_is_configured(app, api, media_dir, s3_endpoint, bucket, monkeypatch):
    client, name = bucket
    monkeypatch.setitem(app.config, "S3_BUCKET", name)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setitem(app.config, "S3_PREFIX", "mail/")
    data = image_bytes("GIF")
    resp = api_upload(api, data, "anim.gif")
    assert resp.status_code == 201, resp.json
    key = resp.json["url"].rsplit("/", 1)[1]
    assert resp.json["url"] == f"{s3_endpoint}/{name}/mail/{key}"
    assert client.get_object(Bucket=name, Key=f"mail/{key}")["Body"].read() == data
    assert stored_files(media_dir) == []
    assert app.test_client().get(f"/media/{key}").status_code == 404  # served by the bucket, not by Herald
    assert api.delete(f"/images/{resp.json['id']}").status_code == 204
    assert client.list_objects_v2(Bucket=name, Prefix=f"mail/{key}")["KeyCount"] == 0


def test_an_unreachable_bucket_is_reported_not_a_500(api, app, media_dir, monkeypatch, bucket):
    monkeypatch.setitem(app.config, "S3_BUCKET", "herald-images")
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    resp = api_upload(api, image_bytes(), "a.png")
    assert resp.status_code == 503 and resp.json["error"]["code"] == "storage_unavailable"
    assert "try again later" in resp.json["error"]["message"]
