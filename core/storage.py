"""Where file contents live: a storage port (issue 11, "the data model a country needs").

Uploaded images and rendered PDFs are not kept as bytes in database rows (up to three 300 KB images
per graduate per form: terabytes a season). A row keeps the content's sha256 and a storage key; the
bytes go to a blob store: the filesystem under var/files in the embedded default, S3-compatible
object storage in production (GRADFLOW_STORAGE_URL=s3://bucket/prefix, via boto3).

Keys are content addressed (the sha256 of the bytes), so storing the same file twice stores it once
and a write that a rolled-back transaction leaves behind is harmless (the sweep removes it). Reading
checks the bytes against the hash: a damaged or swapped file is an error, never served.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from core.config import PRIVATE_FILE_MODE, ConfigError


class BlobMissing(LookupError):
    """No file under that key, or its bytes no longer match their hash."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def listing(self) -> list[tuple[str, float]]:
        """Every stored key with its write time (seconds since the epoch), for the sweep."""
        ...


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise BlobMissing(f"not a storage key: {key[:80]!r}")
    return key


def _verified(key: str, data: bytes) -> bytes:
    if content_key(data) != key:
        raise BlobMissing(f"the stored file {key} does not match its hash")
    return data


@dataclass
class FileStore:
    """Files under root/ab/cd/<sha256>, written to a temporary name then renamed (never half a file), 0600."""

    root: Path

    def path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = content_key(data)
        target = self.path(key)
        if target.is_file():
            return key
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, PRIVATE_FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobMissing(f"no stored file {key}") from exc
        return _verified(key, data)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def listing(self) -> list[tuple[str, float]]:
        if not self.root.is_dir():
            return []
        return sorted((p.name, p.stat().st_mtime) for p in self.root.glob("??/??/*")
                      if len(p.name) == 64 and p.is_file())


@dataclass
class S3Store:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode), objects under prefix/<sha256>."""

    client: Any
    bucket: str
    prefix: str = ""

    def _name(self, key: str) -> str:
        return f"{self.prefix}{_check_key(key)}"

    def put(self, data: bytes) -> str:
        key = content_key(data)
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                               ContentType="application/octet-stream")
        return key

    def get(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise BlobMissing(f"no stored object {key}") from exc
        return _verified(key, body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def listing(self) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            found.extend((obj["Key"][len(self.prefix):], obj["LastModified"].timestamp())
                         for obj in page.get("Contents", []))
        return sorted(item for item in found if len(item[0]) == 64)


def open_store(url: str, var_dir: Path) -> BlobStore:
    """'' or file:///path → FileStore (default var/files); s3://bucket/prefix → S3Store.

    For S3 the endpoint and credentials come from boto3's usual settings (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION) plus GRADFLOW_S3_ENDPOINT for a non-AWS service."""
    if not url:
        return FileStore(var_dir / "files")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStore(Path(parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError("GRADFLOW_STORAGE_URL=s3://bucket/prefix needs a bucket name")
        import boto3  # production only

        client = boto3.client("s3", endpoint_url=os.environ.get("GRADFLOW_S3_ENDPOINT") or None)
        prefix = parsed.path.lstrip("/")
        return S3Store(client, parsed.netloc, prefix + "/" if prefix and not prefix.endswith("/") else prefix)
    raise ConfigError(f"GRADFLOW_STORAGE_URL must be file:///path or s3://bucket/prefix, got {url!r}")
