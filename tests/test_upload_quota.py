"""Uploads are bounded per graduate (issue 12): a loop of uploads is refused before any decoding."""
from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from domain.attachments import DAILY_IMAGES
from domain.models import Attachment
from tests.test_api import token


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, 90, 9)).save(buf, "PNG")
    return buf.getvalue()


def test_a_graduate_cannot_upload_more_than_the_daily_quota(app, runtime, world, make_graduate):
    # rule IMG-1: images are bounded; the quota is the platform's own limit (issue 12)
    make_graduate("g1")
    make_graduate("g2")
    c = app.test_client()
    g1, g2 = token(c, "g1"), token(c, "g2")
    for i in range(DAILY_IMAGES // 3):
        resp = c.post("/api/v1/attachments", headers=g1, content_type="multipart/form-data",
                      data={"file": [(io.BytesIO(png(3 * i + k)), f"{i}-{k}.png") for k in range(3)]})
        assert resp.status_code == 201, resp.json
    refused = c.post("/api/v1/attachments", headers=g1, content_type="multipart/form-data",
                     data={"file": [(io.BytesIO(png(999)), "one-more.png")]})
    assert refused.status_code == 422 and "上限" in refused.json["error"]["message"]
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == DAILY_IMAGES  # nothing more stored
    other = c.post("/api/v1/attachments", headers=g2, content_type="multipart/form-data",
                   data={"file": [(io.BytesIO(png(1)), "mine.png")]})
    assert other.status_code == 201  # the quota is per graduate
