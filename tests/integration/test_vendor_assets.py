"""The library files the pages load: served from the package's copy when it is there (a
wheel install), else from node_modules (a checkout), and only the listed ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from crmforge.web import create_app, vendor

from ..conftest import fresh_instance


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    with fresh_instance(tmp_path, "sqlite") as inst:
        yield create_app(inst, {"TESTING": True}).test_client()


def test_a_checkout_serves_every_listed_file_from_node_modules(
        client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node_modules = Path(client.application.config["CRMFORGE_NODE_MODULES"])
    if not (node_modules / "htmx.org").is_dir():
        pytest.skip("node_modules is not installed (npm ci)")
    monkeypatch.setattr(vendor, "PACKAGED", tmp_path / "no-copy")
    for url, source in vendor.manifest().items():
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.data == (node_modules / source).read_bytes(), url
    assert client.get("/assets/htmx.js").mimetype == "text/javascript"
    assert client.get("/assets/bpmn-js.css").mimetype == "text/css"


def test_the_packaged_copy_is_served_without_node_modules(
        client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "vendor"
    for url in vendor.manifest():
        (copy / url.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (copy / url.lstrip("/")).write_text(f"packaged {url}")
    (copy / "assets" / "unlisted.js").write_text("never served")
    monkeypatch.setattr(vendor, "PACKAGED", copy)
    client.application.config["CRMFORGE_NODE_MODULES"] = str(tmp_path / "no-node-modules")
    assert client.get("/assets/echarts.js").text == "packaged /assets/echarts.js"
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").text \
        == "packaged /api/v1/docs/assets/swagger-ui-bundle.js"
    assert client.get("/assets/unlisted.js").status_code == 404
    assert client.get("/api/v1/docs/assets/../../../../assets/htmx.js").status_code == 404
    page = client.get("/api/v1/docs").text
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page and "npm ci" not in page


def test_without_either_the_docs_page_says_what_to_install(
        client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor, "PACKAGED", tmp_path / "no-copy")
    client.application.config["CRMFORGE_NODE_MODULES"] = str(tmp_path / "no-node-modules")
    assert "npm ci" in client.get("/api/v1/docs").text
    assert client.get("/assets/htmx.js").status_code == 404
