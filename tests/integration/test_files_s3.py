"""Files on an S3-compatible store: moto's server, started as a real process on 127.0.0.1
on a free port, runs the same storage cases as the local file system (files_cases.py) on
both databases; the store is also chosen from the environment as an operator would, and
an unreachable store answers 503, not a server error."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crmforge.runtime import Instance
from crmforge.runtime.files.storage import S3Store, store_from_env

from .conftest import error_of
from .files_cases import CASES, PDF, World

pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

CREDENTIALS = {"access_key": "testing-key", "secret_key": "testing-secret"}
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server in its own process, stopped afterwards."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _client(endpoint: str) -> object:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=CREDENTIALS["access_key"],
                        aws_secret_access_key=CREDENTIALS["secret_key"])


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = "crm-" + secrets.token_hex(6)
    _client(s3_endpoint).create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture
def world(instance: Instance, s3_endpoint: str, bucket: str) -> World:
    instance.set_blob_store(S3Store(bucket, endpoint_url=s3_endpoint, region=REGION,
                                    prefix="crm/", **CREDENTIALS))
    return World.make(instance)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_s3_storage(world: World, case: Callable[[World], None]) -> None:
    case(world)


def test_objects_are_keyed_by_tenant_never_by_name(world: World, s3_endpoint: str,
                                                   bucket: str) -> None:
    up = world.upload(PDF, "报价单.pdf").json
    listed = _client(s3_endpoint).list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("crm/default/")
    assert "报价单" not in keys[0] and len(keys[0].rsplit("/", 1)[1]) == 32
    rid = world.deal(contract=up["id"])["id"]
    assert world.get(f"/api/v1/records/deal/{rid}/files/contract").data == PDF


def test_the_store_comes_from_the_environment(instance: Instance, s3_endpoint: str,
                                              bucket: str, tmp_path: Path) -> None:
    store = store_from_env(tmp_path, {
        "CRMFORGE_FILES_BACKEND": "s3", "CRMFORGE_S3_BUCKET": bucket,
        "CRMFORGE_S3_ENDPOINT_URL": s3_endpoint, "CRMFORGE_S3_REGION": REGION,
        "CRMFORGE_S3_ACCESS_KEY_ID": CREDENTIALS["access_key"],
        "CRMFORGE_S3_SECRET_ACCESS_KEY": CREDENTIALS["secret_key"]})
    assert isinstance(store, S3Store)
    instance.set_blob_store(store)
    w = World.make(instance)
    rid = w.deal()["id"]
    att = w.attach(rid, b"hello from s3", "hello.txt").json
    assert w.get(f"/api/v1/records/deal/{rid}/attachments/{att['id']}").data == b"hello from s3"
    assert len(list(store.keys("default"))) == 1
    assert not (instance.path / "files").exists()  # nothing went to the local disk


def test_an_unreachable_store_is_a_503(instance: Instance) -> None:
    instance.set_blob_store(S3Store("nowhere", endpoint_url=f"http://127.0.0.1:{_free_port()}",
                                    region=REGION, **CREDENTIALS))
    w = World.make(instance)
    r = w.upload(PDF, "a.pdf")
    assert r.status_code == 503 and error_of(r)["code"] == "unavailable"


def test_a_missing_bucket_is_a_503(instance: Instance, s3_endpoint: str) -> None:
    instance.set_blob_store(S3Store("no-such-bucket", endpoint_url=s3_endpoint, region=REGION,
                                    **CREDENTIALS))
    w = World.make(instance)
    r = w.upload(PDF, "a.pdf")
    assert r.status_code == 503
    assert "NoSuchBucket" in error_of(r)["message"]
