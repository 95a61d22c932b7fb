"""Uploads no form took up are swept after a day; images a record shows never are (issue 12, IMG-1)."""
from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select, update

from core.db import utcnow
from domain import attachments, blobs
from domain.models import Attachment
from tests.conftest import png_bytes
from tests.test_api import token


def upload(c, headers, n: int) -> list[int]:
    resp = c.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                  data={"file": [(io.BytesIO(png_bytes(color=(i * 40, 9, 90))), f"{i}.png") for i in range(n)]})
    assert resp.status_code == 201, resp.json
    return [a["id"] for a in resp.json["attachments"]]


def age_all(runtime, days: float) -> None:
    with runtime.Session() as s:
        s.execute(update(Attachment).values(created_at=utcnow() - timedelta(days=days)))
        s.commit()


def test_unused_uploads_are_swept_and_used_ones_stay(app, runtime, world, make_graduate):
    # rule IMG-1: the stored images are the form's; an abandoned upload loop leaves no lasting bytes
    make_graduate("g1")
    c = app.test_client()
    g = token(c, "g1")
    used, *abandoned = upload(c, g, 3)
    # a refused submit (bad destination type) names one of them: its rollback leaves it unused
    refused = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                     json={"dest_type": "no_such_type", "attachment_ids": [abandoned[0]]})
    assert refused.status_code == 422
    resp = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                        "attachment_ids": [used]})
    assert resp.status_code == 201, resp.json
    with runtime.Session() as s:
        marks = dict(s.execute(select(Attachment.id, Attachment.used_at)).tuples().all())
        assert marks[used] is not None and marks[abandoned[0]] is None and marks[abandoned[1]] is None
        # younger than a day: nothing goes yet (the graduate may still be filling the form)
        assert attachments.sweep_unused(s) == 0
    age_all(runtime, 2)
    with runtime.Session() as s:
        abandoned_keys = [s.get(Attachment, i).storage_key for i in abandoned]
        assert attachments.sweep_unused(s, dry_run=True) == 2
        assert len(s.scalars(select(Attachment.id)).all()) == 3  # a dry run deletes nothing
        assert attachments.sweep_unused(s) == 2
        assert s.scalars(select(Attachment.id)).all() == [used]
        kept = s.get(Attachment, used)
        files = set(blobs.sweep(s, min_age_seconds=0))  # (the store is shared: other tests' files go too)
        assert set(abandoned_keys) <= files and kept.storage_key not in files  # their files follow; the used one stays
        assert blobs.read(s, kept.storage_key, kept.data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_image_a_record_names_is_never_swept_even_without_its_mark(app, runtime, world, make_graduate):
    # rule IMG-1: the second fence; a record's images survive even if a path forgot to mark them
    make_graduate("g1")
    c = app.test_client()
    g = token(c, "g1")
    (att,) = upload(c, g, 1)
    resp = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                        "attachment_ids": [att]})
    assert resp.status_code == 201, resp.json
    with runtime.Session() as s:
        s.execute(update(Attachment).values(used_at=None))
        s.commit()
    age_all(runtime, 3)
    with runtime.Session() as s:
        assert attachments.sweep_unused(s) == 0
        assert s.get(Attachment, att) is not None
