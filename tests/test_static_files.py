"""Static files as `make run` serves them: collected under content-hashed names, compressed,
and cacheable for years, so a page's assets load once."""

from __future__ import annotations

import gzip

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client, override_settings

from config import settings as project_settings
from config.staticfiles import NpmFinder

ICONS = {"vendor/bootstrap-icons": settings.NPM_STATIC_FILES["vendor/bootstrap-icons"]}


def collected(tmp_path):
    """The project's own static files and the icon font, collected with the project's storage.

    Only these (not every npm package) so the test stays quick; the icon CSS shows that
    url() references inside a stylesheet are rewritten to hashed names too.
    """
    return override_settings(
        STATIC_ROOT=tmp_path,
        STORAGES=project_settings.STORAGES,
        STATICFILES_DIRS=[settings.BASE_DIR / "static"],
        NPM_STATIC_FILES=ICONS,
        WHITENOISE_USE_FINDERS=False,
        # As served: the files listed once at start-up (tests/conftest.py turns this on).
        WHITENOISE_AUTOREFRESH=False,
    )


def test_the_project_collects_static_files_compressed_under_hashed_names():
    backend = project_settings.STORAGES["staticfiles"]["BACKEND"]
    assert backend == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_hashed_files_are_served_compressed_and_cached_for_years(tmp_path):
    with collected(tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
        url = staticfiles_storage.url("css/app.css")
        assert url != "/static/css/app.css" and url.endswith(".css")

        response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip")
        body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in response["Cache-Control"]
    assert "immutable" in response["Cache-Control"]
    original = (settings.BASE_DIR / "static" / "css" / "app.css").read_bytes()
    assert gzip.decompress(body) == original


def test_a_plain_name_still_answers_but_is_cached_briefly(tmp_path):
    # drf-spectacular's Swagger UI page links /static/vendor/swagger-ui/... by plain name.
    with collected(tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
        response = Client().get("/static/css/app.css")

    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]


def test_stylesheets_point_at_the_hashed_fonts(tmp_path):
    with collected(tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
        css_url = staticfiles_storage.url("vendor/bootstrap-icons/bootstrap-icons.min.css")
        font_url = staticfiles_storage.url("vendor/bootstrap-icons/fonts/bootstrap-icons.woff2")
        client = Client()
        css = b"".join(client.get(css_url).streaming_content).decode()
        font = client.get(font_url)

    font_name = font_url.rsplit("/", 1)[1]
    assert f"fonts/{font_name}" in css
    assert font.status_code == 200
    assert "immutable" in font["Cache-Control"]


def test_only_the_npm_files_pages_link_are_collected_with_their_source_maps():
    served = {f"{storage.prefix}/{path}" for path, storage in NpmFinder().list(None)}

    assert "vendor/bootstrap/css/bootstrap.min.css" in served
    assert "vendor/bootstrap/css/bootstrap.min.css.map" in served
    assert "vendor/vega-lite/vega-lite.min.js" in served
    assert "vendor/bootstrap/css/bootstrap.rtl.min.css" not in served
    assert "vendor/vega-lite/vega-lite.js" not in served
    assert finders.find("vendor/htmx/htmx.min.js") == str(
        settings.NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js"
    )
    assert finders.find("vendor/htmx/htmx.js") is None


def test_a_linked_npm_file_that_is_missing_fails_the_system_check(settings):
    settings.NPM_STATIC_FILES = {"vendor/htmx": ("htmx.org/dist", ["htmx.max.js"])}

    errors = NpmFinder().check()

    assert [error.id for error in errors] == ["config.E001"]
    assert "htmx.org/dist/htmx.max.js" in errors[0].msg


def test_the_sql_editor_bundle_is_collected_under_a_hashed_name(tmp_path):
    bundle = settings.BUILD_STATIC_DIR / "sql-editor" / "sql-editor.js"
    assert bundle.exists(), "the SQL editor is not bundled yet: run `make bundle`"
    with override_settings(
        STATIC_ROOT=tmp_path,
        STORAGES=project_settings.STORAGES,
        STATICFILES_DIRS=[settings.BUILD_STATIC_DIR],
        NPM_STATIC_FILES={},
        WHITENOISE_USE_FINDERS=False,
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        url = staticfiles_storage.url("sql-editor/sql-editor.js")
        response = Client().get(url)
        body = b"".join(response.streaming_content)

    assert url != "/static/sql-editor/sql-editor.js"
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    # Its source map is collected beside it, under its own hashed name.
    assert b"sourceMappingURL=sql-editor." in body
    assert b"sourceMappingURL=sql-editor.js.map" not in body
