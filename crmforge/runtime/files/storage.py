"""Where file contents live: a storage backend behind one small interface.

Two backends, chosen by configuration (docs/operations.md):

- ``LocalStore``: the file system under ``<instance>/files/<tenant>/`` (the default);
- ``S3Store``: an S3-compatible object store through boto3 (AWS S3, MinIO, Ceph, ...).

Keys are made here, never by a user: 32 random hex digits (``new_key``), plus a suffix for
a derived rendition (``.preview``). A backend refuses any other key, so no name a client
sends can ever reach a path or an object key. Everything about a particular store (paths,
atomic renames, buckets, credentials, retries) stays inside its class; the file service
only puts, opens and deletes blobs of a tenant.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ...core.errors import NotFound, Unavailable

#: Keys the backends accept: the random part and an optional rendition suffix.
KEY = re.compile(r"^[0-9a-f]{32}(?:\.[a-z]{1,12})?$")
#: Tenant names as the instance allows them (runtime.instance.TENANT_NAME).
TENANT = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
CHUNK = 64 * 1024


class StorageSettingError(ValueError):
    """A storage setting holds a value the store cannot work with (names the variable)."""


def new_key() -> str:
    """A fresh storage key: 128 random bits, unrelated to the file's name or content."""
    return secrets.token_hex(16)


def _checked(tenant: str, key: str) -> tuple[str, str]:
    if not TENANT.fullmatch(tenant) or not KEY.fullmatch(key):
        raise ValueError("not a storage key")  # a bug, never a user's input
    return tenant, key


class Blob:
    """An open blob: its size and its bytes, read in chunks; close it when done."""

    def __init__(self, size: int, chunks: Iterator[bytes], close: Any = None) -> None:
        self.size = size
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def read_all(self) -> bytes:
        try:
            return b"".join(self._chunks)
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


class BlobStore(ABC):
    """Contents by (tenant, key). ``put`` is atomic: a blob is there whole or not at all."""

    name: str

    @abstractmethod
    def put(self, tenant: str, key: str, source: IO[bytes], size: int, content_type: str) -> None:
        """Store ``size`` bytes read from ``source`` (positioned at its start)."""

    @abstractmethod
    def open(self, tenant: str, key: str) -> Blob:
        """The blob, or NotFound when the store does not have it."""

    @abstractmethod
    def exists(self, tenant: str, key: str) -> bool: ...

    @abstractmethod
    def delete(self, tenant: str, key: str) -> None:
        """Remove a blob; removing one that is not there is no error."""

    @abstractmethod
    def keys(self, tenant: str) -> Iterator[str]:
        """Every key stored for ``tenant`` (tests and clean-up)."""


class LocalStore(BlobStore):
    """Blobs as files: ``<root>/<tenant>/<first two hex digits>/<key>``, written to a
    temporary file in the same folder and renamed into place, readable by the server's
    user only."""

    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, tenant: str, key: str) -> Path:
        tenant, key = _checked(tenant, key)
        return self.root / tenant / key[:2] / key

    def put(self, tenant: str, key: str, source: IO[bytes], size: int, content_type: str) -> None:
        path = self._path(tenant, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, partial = tempfile.mkstemp(prefix=".part-", dir=path.parent)
        except OSError as exc:
            raise Unavailable(f"the file store cannot write ({exc.strerror})") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                written = 0
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if written != size:
                raise ValueError(f"expected {size} bytes, read {written}")
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise Unavailable(f"the file store cannot write ({exc.strerror})") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise

    def open(self, tenant: str, key: str) -> Blob:
        path = self._path(tenant, key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound("the file's content is missing from the file store") from None
        except OSError as exc:
            raise Unavailable(f"the file store cannot read ({exc.strerror})") from exc
        size = os.fstat(handle.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            while chunk := handle.read(CHUNK):
                yield chunk
            handle.close()

        return Blob(size, chunks(), handle.close)

    def exists(self, tenant: str, key: str) -> bool:
        return self._path(tenant, key).is_file()

    def delete(self, tenant: str, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(tenant, key).unlink()

    def keys(self, tenant: str) -> Iterator[str]:
        folder = self.root / _checked(tenant, "0" * 32)[0]
        if folder.is_dir():
            for path in sorted(folder.glob("*/*")):
                if KEY.fullmatch(path.name):
                    yield path.name


class S3Store(BlobStore):
    """Blobs as objects of one bucket: ``<prefix><tenant>/<key>``. Any S3-compatible
    server works (``endpoint_url``; path-style addressing then, which they all take)."""

    name = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, prefix: str = "") -> None:
        import boto3  # only deployments that use S3 pay for importing it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                        connect_timeout=5, read_timeout=60,
                        s3={"addressing_style": "path"} if endpoint_url else {})
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=config)

    def _key(self, tenant: str, key: str) -> str:
        tenant, key = _checked(tenant, key)
        return f"{self.prefix}{tenant}/{key}"

    @contextlib.contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        """Errors of the store as product errors: unreachable or refusing is a 503."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound("the file's content is missing from the file store") from None
            raise Unavailable(f"the file store refused to {doing} ({code})") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"the file store cannot {doing} ({type(exc).__name__})") from exc

    def put(self, tenant: str, key: str, source: IO[bytes], size: int, content_type: str) -> None:
        with self._calls("store the file"):
            self.client.upload_fileobj(source, self.bucket, self._key(tenant, key),
                                       ExtraArgs={"ContentType": content_type})

    def open(self, tenant: str, key: str) -> Blob:
        with self._calls("read the file"):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(tenant, key))
        body = answer["Body"]
        return Blob(int(answer["ContentLength"]), body.iter_chunks(CHUNK), body.close)

    def exists(self, tenant: str, key: str) -> bool:
        try:
            with self._calls("look up the file"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(tenant, key))
        except NotFound:
            return False
        return True

    def delete(self, tenant: str, key: str) -> None:
        with self._calls("delete the file"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(tenant, key))

    def keys(self, tenant: str) -> Iterator[str]:
        start = self._key(tenant, "0" * 32)[:-32]
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start)
        with self._calls("list the files"):
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"])[len(start):]


def store_from_env(instance_path: str | Path, environ: Mapping[str, str] | None = None
                   ) -> BlobStore:
    """The store an instance's settings choose (docs/operations.md):
    ``CRMFORGE_FILES_BACKEND`` = ``local`` (``CRMFORGE_FILES_DIR``, default
    ``<instance>/files``) or ``s3`` (``CRMFORGE_S3_BUCKET``, ``CRMFORGE_S3_ENDPOINT_URL``,
    ``CRMFORGE_S3_REGION``, ``CRMFORGE_S3_PREFIX``, ``CRMFORGE_S3_ACCESS_KEY_ID`` and
    ``CRMFORGE_S3_SECRET_ACCESS_KEY``; without keys, boto3's own chain: ``AWS_*``
    variables, its config files, an instance role)."""
    env = os.environ if environ is None else environ
    kind = env.get("CRMFORGE_FILES_BACKEND", "local").strip().lower() or "local"
    if kind == "local":
        return LocalStore(env.get("CRMFORGE_FILES_DIR") or Path(instance_path) / "files")
    if kind != "s3":
        raise StorageSettingError(f"CRMFORGE_FILES_BACKEND is local or s3, not {kind[:40]!r}")
    bucket = env.get("CRMFORGE_S3_BUCKET", "").strip()
    if not bucket:
        raise StorageSettingError("CRMFORGE_FILES_BACKEND=s3 needs CRMFORGE_S3_BUCKET")
    prefix = env.get("CRMFORGE_S3_PREFIX", "").strip()
    if prefix and not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", prefix):
        raise StorageSettingError("CRMFORGE_S3_PREFIX takes letters, digits and . _ / -")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    endpoint = env.get("CRMFORGE_S3_ENDPOINT_URL", "").strip() or None
    if endpoint and not re.match(r"^https?://", endpoint):
        raise StorageSettingError("CRMFORGE_S3_ENDPOINT_URL is an http:// or https:// address")
    return S3Store(bucket, endpoint_url=endpoint, region=env.get("CRMFORGE_S3_REGION"),
                   access_key=env.get("CRMFORGE_S3_ACCESS_KEY_ID"),
                   secret_key=env.get("CRMFORGE_S3_SECRET_ACCESS_KEY"), prefix=prefix)


__all__ = ["KEY", "Blob", "BlobStore", "LocalStore", "S3Store", "StorageSettingError",
           "new_key", "store_from_env"]
