"""Files behind the storage port (issue 11): rows keep a key and a hash, the bytes live in a blob store
(the filesystem in the embedded default, S3-compatible object storage in production)."""
from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select, text

from core.storage import BlobMissing, FileStore, S3Store, content_key, open_store
from domain import blobs
from domain.attachments import store_images
from domain.models import Attachment
from tests.conftest import png_bytes, port_open, require_service


def test_file_store_is_content_addressed_private_and_checks_the_hash(tmp_path):
    store = FileStore(tmp_path / "files")
    key = store.put(b"hello")
    assert key == content_key(b"hello") and store.put(b"hello") == key  # stored once
    path = store.path(key)
    assert path.read_bytes() == b"hello" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [k for k, _ in store.listing()] == [key]
    path.write_bytes(b"swapped")  # a damaged or replaced file is an error, never served
    with pytest.raises(BlobMissing):
        store.get(key)
    with pytest.raises(BlobMissing):
        store.get("../../etc/passwd")  # keys are hashes, never paths
    store.delete(key)
    with pytest.raises(BlobMissing):
        store.get(key)


def test_uploaded_images_go_to_the_store_and_are_served_from_it(runtime, world, make_graduate, client_for):
    # rule IMG-1
    grad = make_graduate("g1")
    with runtime.Session() as s:
        [row] = store_images(s, grad.id, None, [("a.png", png_bytes())])
        s.commit()
        assert row.data is None and row.storage_key == row.sha256  # no bytes in the row
        stored = blobs.read(s, row.storage_key)
    assert content_key(stored) == row.sha256
    got = client_for("g1").get(f"/attachments/{row.id}")
    assert got.status_code == 200 and got.data == stored


def test_rows_from_before_the_store_are_read_inline_then_moved(runtime, world, make_graduate):
    grad = make_graduate("g1")
    raw = png_bytes((1, 2, 3))
    with runtime.Session() as s:  # a row as migration 0018 left it: bytes inline, no key
        s.add(Attachment(graduate_id=grad.id, mime="image/png", width=64, height=48, size=len(raw),
                         sha256=content_key(raw), data=raw))
        s.commit()
        row = s.scalar(select(Attachment))
        assert blobs.read(s, row.storage_key, row.data) == raw
        assert blobs.move_inline(s) == 1 and blobs.move_inline(s) == 0
        s.expire_all()
        row = s.scalar(select(Attachment))
        assert row.data is None and row.storage_key == content_key(raw)
        assert blobs.read(s, row.storage_key, row.data) == raw


def test_sweep_removes_only_old_files_no_row_names(runtime, world, make_graduate):
    grad = make_graduate("g1")
    with runtime.Session() as s:
        [kept] = store_images(s, grad.id, None, [("a.png", png_bytes((9, 9, 9)))])
        s.commit()
        orphan = blobs.put(s, b"left by a rolled-back upload")
        young = blobs.put(s, b"written by a transaction still running")
        store = blobs.store_of(s)
        assert isinstance(store, FileStore)
        old = os.path.getmtime(store.path(orphan)) - 3 * 24 * 3600
        os.utime(store.path(orphan), (old, old))
        assert blobs.sweep(s, dry_run=True) == [orphan] and store.get(orphan)  # the dry run deletes nothing
        assert blobs.sweep(s) == [orphan]
        with pytest.raises(BlobMissing):
            store.get(orphan)
        assert store.get(young) and store.get(kept.storage_key)


def test_storage_url_picks_the_store(tmp_path):
    assert isinstance(open_store("", tmp_path), FileStore)
    assert open_store(f"file://{tmp_path}/x", tmp_path).root == tmp_path / "x"  # type: ignore[union-attr]
    from core.config import ConfigError

    with pytest.raises(ConfigError):
        open_store("ftp://example/x", tmp_path)


@pytest.fixture
def s3_endpoint():
    """moto's S3 server: a real HTTP endpoint speaking the S3 API on 127.0.0.1 (no AWS account here)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_service("moto", "pip install 'moto[server]' (in the test extras)")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert port_open(host, port)
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.one_backend
def test_s3_store_round_trip_over_http(s3_endpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("GRADFLOW_S3_ENDPOINT", s3_endpoint)
    store = open_store("s3://gradflow-files/season-2026", tmp_path)
    assert isinstance(store, S3Store) and store.prefix == "season-2026/"
    store.client.create_bucket(Bucket="gradflow-files")
    key = store.put(b"%PDF-1.7 an agreement")
    assert store.get(key) == b"%PDF-1.7 an agreement"
    assert [k for k, _ in store.listing()] == [key]
    store.client.put_object(Bucket="gradflow-files", Key=f"season-2026/{key}", Body=b"tampered")
    with pytest.raises(BlobMissing):
        store.get(key)
    store.delete(key)
    with pytest.raises(BlobMissing):
        store.get(key)
    assert store.listing() == []


def test_no_file_bytes_left_in_rows_after_a_signing(runtime):
    with runtime.Session() as s:  # the three file tables keep no inline bytes for new rows
        for table, column in (("attachment", "data"), ("agreement_document", "pdf"),
                              ("verification_document", "pdf")):
            assert s.execute(text(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")).scalar() == 0
