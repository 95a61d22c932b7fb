"""Employer self-registration with verification (issue 12): nothing exists until the contact enters the code
sent to it; codes expire and allow 5 tries; the answer never tells whether a username exists; a credit code
already taken can be disputed and the province or an admin decides, audited."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from domain.employer_models import CreditCodeDispute, EmployerRegistration
from domain.models import Account, Employer, SettingChange
from domain.seed import DEMO_PASSWORD, credit_code
from engine.models import OutboxMessage
from processes.agreements import registration as reg_service

FORM = {"employer_name": "厦门鹭岛软件有限公司", "nature": "56", "industry": "I", "division_code": "350203",
        "employer_address": "厦门市思明区软件园二期", "contact": "王经理", "mobile": "13900001111",
        "email": "hr@ludao-soft.cn", "password": "secret-pass-1"}


def form(username="hr_new", code=None, **kw) -> dict:
    return {**FORM, "credit_code": code or credit_code(777), "username": username, **kw}


def codes(runtime, to="13900001111") -> list[str]:
    """The codes sent to one address, oldest first (read from the outbox rows the senders deliver)."""
    with runtime.Session() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    return [re.search(r"验证码 (\d{6})", r.payload["body"]).group(1) for r in rows
            if r.payload.get("to") == to and "验证码" in r.payload.get("body", "")]


def last_code(runtime, to="13900001111") -> str:
    return codes(runtime, to)[-1]


def count(runtime, model) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_an_employer_exists_only_after_the_code_sent_to_its_contact(app, runtime, world, make_graduate):
    # issue 12: employer accounts usable only after verification; rule ONL-1 (only employers invite)
    grad = make_graduate("g1")
    client = app.test_client()
    resp = client.post("/employer/register", data=form())
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/employer/register/verify")
    page = client.get("/employer/register/verify").get_data(as_text=True)
    assert "139****1111" in page and "13900001111" not in page  # the contact's number, masked
    # nothing to log in with, nothing to invite from, until the code is entered
    with runtime.Session() as s:
        assert s.scalar(select(Account).where(Account.username == "hr_new")) is None
    assert count(runtime, Employer) == 0
    assert app.test_client().post("/login", data={"username": "hr_new", "password": FORM["password"]}) \
        .status_code == 401  # refused
    assert client.get(f"/employer/invite/{grad.id}").status_code == 302  # to the login page
    api = app.test_client()
    assert api.post("/api/v1/token", json={"username": "hr_new", "password": FORM["password"]}).status_code == 401
    # a wrong code is counted, and said so in Chinese
    resp = client.post("/employer/register/verify", data={"code": "000000" if last_code(runtime) != "000000"
                                                           else "111111"})
    assert resp.status_code == 422 and "验证码错误，还可尝试4次" in resp.get_data(as_text=True)
    resp = client.post("/employer/register/verify", data={"code": "12ab"})
    assert resp.status_code == 422 and "验证码为6位数字" in resp.get_data(as_text=True)
    # the right code creates the employer and its account and logs it in
    resp = client.post("/employer/register/verify", data={"code": last_code(runtime)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/employer")
    assert "厦门鹭岛软件有限公司" in client.get("/employer").get_data(as_text=True)
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "hr_new"))
        assert account.role == "employer" and s.get(Employer, account.employer_id).credit_code == credit_code(777)
    assert client.get("/employer/find").status_code == 200
    # the code cannot be used twice: the registration is done
    assert app.test_client().post("/api/v1/employers/verify", json={"token": "x", "code": "123456"}).status_code == 404


def test_codes_expire_and_allow_five_tries_and_resends_are_spaced(runtime, world, step):
    # issue 12: codes expire (10 min), limited attempts
    now = utcnow()
    reg = step(lambda s: reg_service.start(s, {**form(), "credit_code": credit_code(778)}, "hr_a", "secret-pass-1",
                                           "sms", now=now))
    code = last_code(runtime)
    wrong = "000000" if code != "000000" else "111111"
    # expired after 10 minutes
    out = step(lambda s: reg_service.verify(s, reg.token, code, now=now + timedelta(minutes=10, seconds=1)))
    assert out.account is None and out.error == "验证码已过期，请重新获取验证码"
    # a resend within a minute is refused; later it sends a new code and the old one no longer works
    with pytest.raises(Exception, match="秒后再重新获取"):
        step(lambda s: reg_service.resend(s, reg.token, now=now + timedelta(seconds=30)))
    step(lambda s: reg_service.resend(s, reg.token, now=now + timedelta(seconds=61)))
    new_code = last_code(runtime)
    later = now + timedelta(minutes=2)
    if new_code != code:
        assert step(lambda s: reg_service.verify(s, reg.token, code, now=later)).status == 422
    # five wrong tries lock the code, even the right one is refused after that
    for _ in range(5):
        out = step(lambda s: reg_service.verify(s, reg.token, wrong, now=later))
    assert out.error == "验证码错误次数过多，请重新获取验证码"
    out = step(lambda s: reg_service.verify(s, reg.token, new_code, now=later))
    assert out.account is None and out.status == 409
    with runtime.Session() as s:
        assert s.scalar(select(EmployerRegistration)).attempts == 5
    assert count(runtime, Employer) == 0
    # at most 5 codes per registration
    for i in range(2, 5):
        step(lambda s, i=i: reg_service.resend(s, reg.token, now=now + timedelta(minutes=i * 2)))
    with pytest.raises(Exception, match="获取验证码次数过多"):
        step(lambda s: reg_service.resend(s, reg.token, now=now + timedelta(minutes=20)))


def _answer(app, data) -> tuple[int, str, str]:
    client = app.test_client()
    resp = client.post("/employer/register", data=data)
    page = client.get("/employer/register/verify")
    text = re.sub(r'value="[^"]{20,}"', "", page.get_data(as_text=True))  # CSRF tokens (disabled here anyway)
    return resp.status_code, resp.headers.get("Location", ""), text


def test_registration_does_not_tell_whether_a_username_exists(app, runtime, world, make_employer):
    # issue 12: same message and the same work whether the username exists or not
    make_employer("taken_name")
    taken = _answer(app, form(username="taken_name", code=credit_code(779)))
    free = _answer(app, form(username="free_name", code=credit_code(780)))
    assert taken == free and taken[0] == 302
    with runtime.Session() as s:  # both hashed the password (the costly part) and sent a code
        regs = list(s.scalars(select(EmployerRegistration).order_by(EmployerRegistration.id)))
        assert [r.username for r in regs] == ["taken_name", "free_name"]
        assert all(r.password_hash.startswith("pbkdf2:") for r in regs)
    # the truth comes only after the contact proved the address
    token = regs[0].token
    out = app.test_client().post("/api/v1/employers/verify", json={"token": token, "code": codes(runtime)[0]})
    assert out.status_code == 409 and "该登录名已被使用" in out.json["error"]["message"]
    # the API answers alike too
    api = app.test_client()
    a = api.post("/api/v1/employers", json=form(username="taken_name", code=credit_code(781)))
    b = api.post("/api/v1/employers", json=form(username="other_free", code=credit_code(782)))
    assert a.status_code == b.status_code == 202
    assert {k: v for k, v in a.json["registration"].items() if k not in ("token", "expires_at")} == \
        {k: v for k, v in b.json["registration"].items() if k not in ("token", "expires_at")}


def test_api_registration_then_verification(app, runtime, world):
    # issue 12: the API registers in two steps as the page does
    api = app.test_client()
    resp = api.post("/api/v1/employers", json=form(username="ludao_hr", verify_by="email"))
    assert resp.status_code == 202 and resp.json["registration"]["sent_to"] == "h***@ludao-soft.cn"
    token = resp.json["registration"]["token"]
    code = last_code(runtime, to="hr@ludao-soft.cn")
    assert api.post("/api/v1/employers/verify", json={"token": token, "code": "12"}).status_code == 422
    ok = api.post("/api/v1/employers/verify", json={"token": token, "code": code})
    assert ok.status_code == 201 and ok.json["employer"]["credit_code"] == credit_code(777)
    assert api.post("/api/v1/token", json={"username": "ludao_hr", "password": FORM["password"]}).status_code == 200


def _province(runtime, world):
    from domain import seed

    with runtime.Session() as s:
        seed.make_account(s, "prov", "province", "省就业主管部门", province_id=world.province.id)
        s.commit()


def _dispute(app, runtime, username: str) -> None:
    client = app.test_client()
    client.post("/employer/register", data=form(username=username, code=credit_code(790), mobile="13900002222"))
    resp = client.post("/employer/register/verify", data={"code": last_code(runtime, to="13900002222")})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "已被其他账号注册" in text and 'id="dispute-form"' in text
    resp = client.post("/employer/register/dispute", data={"reason": "我单位营业执照在此，代码被他人抢注"})
    assert resp.status_code == 302


def test_a_taken_credit_code_is_disputed_and_the_province_moves_it(app, runtime, world, make_employer, client_for):
    # issue 12: a dispute path for a taken credit code; approve moves the code, audited
    squatter = make_employer("squatter", name="冒名公司", credit_code=credit_code(790))
    _province(runtime, world)
    _dispute(app, runtime, "real_hr")
    assert count(runtime, CreditCodeDispute) == 1
    # graduates and employers cannot see the list; the province can
    assert client_for("squatter").get("/employer/disputes").status_code == 404
    prov = client_for("prov")
    page = prov.get("/employer/disputes").get_data(as_text=True)
    assert credit_code(790) in page and "冒名公司" in page and "我单位营业执照在此" in page
    with runtime.Session() as s:
        dispute_id = s.scalar(select(CreditCodeDispute.id))
    resp = prov.post(f"/employer/disputes/{dispute_id}/approve", data={"note": "核对营业执照无误"})
    assert resp.status_code == 302
    with runtime.Session() as s:
        new = s.scalar(select(Employer).where(Employer.credit_code == credit_code(790)))
        assert new.name == "厦门鹭岛软件有限公司" and new.id != squatter.id
        old_accounts = list(s.scalars(select(Account).where(Account.employer_id == squatter.id)))
        assert old_accounts and not any(a.active for a in old_accounts)
        change = s.scalar(select(SettingChange).where(SettingChange.action == "approve_credit_dispute"))
        assert change.target_id == squatter.id and change.reason == "核对营业执照无误"
        assert s.get(CreditCodeDispute, dispute_id).status == "approved"
        told = [r.payload["body"] for r in s.scalars(select(OutboxMessage)) if r.payload["to"] == "13900002222"]
        assert any("审核通过" in b for b in told)
    # the applicant logs in with the name and password it registered; the squatter no longer can
    assert app.test_client().post("/login", data={"username": "real_hr", "password": FORM["password"]}) \
        .headers["Location"].endswith("/employer")
    assert app.test_client().post("/login", data={"username": "squatter", "password": DEMO_PASSWORD}).status_code == 401
    # decided once only
    prov.post(f"/employer/disputes/{dispute_id}/reject", data={})
    with runtime.Session() as s:
        assert s.get(CreditCodeDispute, dispute_id).status == "approved"


def test_a_rejected_dispute_keeps_the_code(app, runtime, world, make_employer, client_for):
    # issue 12: reject keeps the credit code where it is, audited
    holder = make_employer("holder", name="真实公司", credit_code=credit_code(790))
    _dispute(app, runtime, "claimant")
    with runtime.Session() as s:
        dispute_id = s.scalar(select(CreditCodeDispute.id))
    admin = client_for("admin")
    assert admin.post(f"/employer/disputes/{dispute_id}/reject", data={"note": "材料不足"}).status_code == 302
    with runtime.Session() as s:
        assert s.scalar(select(Employer.id).where(Employer.credit_code == credit_code(790))) == holder.id
        assert s.scalar(select(Account).where(Account.username == "claimant")) is None
        assert s.scalar(select(SettingChange.action)) == "reject_credit_dispute"
    assert "暂无争议申请" in admin.get("/employer/disputes").get_data(as_text=True)
    assert "claimant" in admin.get("/employer/disputes?status=rejected").get_data(as_text=True)


def test_a_province_sees_and_decides_only_its_own_disputes(app, runtime, world, make_employer, client_for):
    # rule ROLE-1 (issue 12): a dispute belongs to the province of the holder or the applicant (行政区划 code)
    from domain import seed

    make_employer("holder", name="真实公司", credit_code=credit_code(790))  # division 350203: 福建省
    _province(runtime, world)
    with runtime.Session() as s:
        other = seed.make_province(s, code="330000", name="浙江省")
        seed.make_account(s, "prov_zj", "province", "浙江省就业主管部门", province_id=other.id)
        s.commit()
    _dispute(app, runtime, "claimant")  # the applicant's division is 350203 too
    with runtime.Session() as s:
        dispute_id = s.scalar(select(CreditCodeDispute.id))
    zj, fj = client_for("prov_zj"), client_for("prov")
    assert "claimant" not in zj.get("/employer/disputes").get_data(as_text=True)
    assert "claimant" in fj.get("/employer/disputes").get_data(as_text=True)
    zj.post(f"/employer/disputes/{dispute_id}/approve", data={"note": "越权"})
    assert "争议申请不存在" in zj.get("/employer/disputes").get_data(as_text=True)  # as if it were missing
    with runtime.Session() as s:
        assert s.get(CreditCodeDispute, dispute_id).status == "pending"
    # the header leads those who decide to the list, and nobody else
    for username, shown in (("prov", True), ("prov_zj", True), ("admin", True), ("school", False), ("holder", False)):
        text = client_for(username).get("/", follow_redirects=True).get_data(as_text=True)
        assert ('id="nav-disputes"' in text) == shown, username
    assert fj.post(f"/employer/disputes/{dispute_id}/reject", data={"note": "材料不足"}).status_code == 302
    with runtime.Session() as s:
        assert s.get(CreditCodeDispute, dispute_id).status == "rejected"
