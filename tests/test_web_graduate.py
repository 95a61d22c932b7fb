"""Graduate pages: login refusal, confirmation, filing through the form with a proof image."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from domain.models import Attachment, Graduate
from domain.seed import DEMO_PASSWORD, make_account
from engine.models import ProcessInstance
from tests.conftest import png_bytes


def test_graduate_without_basic_info_is_told_why(app, runtime, world):
    # rule GRAD-2
    with runtime.Session() as s:
        make_account(s, "nobasic", "graduate", "钱七", id_number="350203200301150019")
        s.commit()
    resp = app.test_client().post("/login", data={"username": "nobasic", "password": DEMO_PASSWORD})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 401
    assert "尚未上传你的毕业生基本信息" in text and "学校就业部门" in text


def test_deleted_basic_info_also_refuses_login(app, runtime, world, make_graduate, step):
    # rule GRAD-2
    grad = make_graduate("g1")
    from core.db import utcnow

    step(lambda s: setattr(s.get(Graduate, grad.id), "deleted_at", utcnow()))
    resp = app.test_client().post("/login", data={"username": "g1", "password": DEMO_PASSWORD})
    assert resp.status_code == 401 and "基本信息" in resp.get_data(as_text=True)


def test_wrong_password_does_not_say_whether_the_user_exists(app, world, make_graduate):
    # rule ROLE-1
    make_graduate("g1")
    a = app.test_client().post("/login", data={"username": "g1", "password": "wrong"}).get_data(as_text=True)
    b = app.test_client().post("/login", data={"username": "nobody", "password": "wrong"}).get_data(as_text=True)
    assert "用户名或密码错误" in a and "用户名或密码错误" in b


def test_first_entry_shows_basic_info_and_confirming_enters(app, runtime, world, make_graduate, client_for):
    # rule GRAD-3
    grad = make_graduate("g1", confirmed=False)
    client = app.test_client()
    resp = client.post("/login", data={"username": "g1", "password": DEMO_PASSWORD})
    assert resp.headers["Location"].endswith("/graduate/confirm")
    page = client.get("/graduate").headers["Location"]
    assert page.endswith("/graduate/confirm")  # cannot skip the check
    text = client.get("/graduate/confirm").get_data(as_text=True)
    for value in (grad.exam_no, grad.name, grad.student_no, "信息学院", grad.major, "信息确认无误，进入系统"):
        assert value in text
    assert grad.id_number not in text  # masked
    resp = client.post("/graduate/confirm", data={})
    assert resp.headers["Location"].endswith("/graduate")
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).confirmed_at is not None
    assert "毕业去向填报" in client.get("/graduate").get_data(as_text=True)


def test_filing_through_the_form_stores_a_downscaled_proof(app, runtime, world, make_graduate, client_for):
    # rules DST-1, IMG-1
    make_graduate("g1")
    client = client_for("g1")
    import os

    from PIL import Image

    noise = Image.frombytes("RGB", (1500, 1500), os.urandom(1500 * 1500 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    assert len(buf.getvalue()) > 300 * 1024
    resp = client.post("/graduate/destination/new", content_type="multipart/form-data",
                       data={"dest_type": "freelance", "note": "自由撰稿",
                             "images": [(io.BytesIO(buf.getvalue()), "big.png"), (io.BytesIO(png_bytes()), "b.png")]})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    record = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "等待院系审核" in record and "自由撰稿" in record
    with runtime.Session() as s:
        sizes = list(s.scalars(select(Attachment.size)))
        assert len(sizes) == 2 and max(sizes) <= 300 * 1024
    img = re.search(r'/attachments/(\d+)', record).group(0)
    got = client.get(img)
    assert got.status_code == 200 and got.mimetype in {"image/jpeg", "image/png"}


def test_records_list_shows_status_labels(app, runtime, world, make_graduate, client_for):
    # rule DST-1
    make_graduate("g1")
    client = client_for("g1")
    client.post("/graduate/destination/new", data={"dest_type": "job_seeking", "note": "在找工作"})
    text = client.get("/graduate/destination").get_data(as_text=True)
    assert "登记记录" in text and "等待院系审核" in text and "求职中" in text


def test_directed_graduate_sees_only_the_directed_type(app, runtime, world, make_graduate, client_for):
    # rule GRAD-6
    make_graduate("d1", training_mode="委培", directed_unit="某委培单位")
    text = client_for("d1").get("/graduate/destination").get_data(as_text=True)
    assert 'data-type="directed"' in text and 'data-type="freelance"' not in text


def test_csrf_is_required_on_forms(runtime, world, make_graduate):
    # rule ROLE-1
    from webapp import create_app

    make_graduate("g1")
    app = create_app(runtime, TESTING=True)  # CSRF on, as in production
    client = app.test_client()
    resp = client.post("/login", data={"username": "g1", "password": DEMO_PASSWORD})
    assert resp.status_code == 400 and "页面已过期" in resp.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"username": "g1", "password": DEMO_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    resp = client.post("/graduate/destination/new", data={"dest_type": "job_seeking"})
    assert resp.status_code == 400
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_english_is_available(app, world, make_graduate, client_for):
    # rule GRAD-3
    make_graduate("g1")
    client = client_for("g1")
    client.post("/graduate/destination/new", data={"dest_type": "job_seeking"})
    text = client.get("/graduate/destination?lang=en").get_data(as_text=True)
    assert "Records" in text and "Awaiting department review" in text
    assert "Log in" in app.test_client().get("/login?lang=en").get_data(as_text=True)
    assert "登录" in app.test_client().get("/login").get_data(as_text=True)  # Chinese by default
