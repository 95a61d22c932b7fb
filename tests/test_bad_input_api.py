"""Bad input that used to give a 500 (issue 7): huge path ids, non-object and deeply nested JSON,
and errors under /api/ that were not JSON. Each answer is a plain 4xx, or a JSON 500 that logs."""
from __future__ import annotations

import json
import logging

import pytest
from werkzeug.exceptions import BadRequest

HUGE_IDS = (2147483648, 99999999999999999999)  # just past int4 (PostgreSQL "integer"), past int64 (SQLite)
PAGE_ROUTES = {
    "g1": ("/graduate/records/{}", "/graduate/work/{}", "/attachments/{}", "/agreements/{}/pdf"),
    "dept_info": ("/review/items/{}", "/review/instances/{}"),
    "admin": ("/admin/instances/{}",),
}
API_ROUTES = (("GET", "/api/v1/instances/{}"), ("GET", "/api/v1/work-items/{}"),
              ("POST", "/api/v1/work-items/{}/complete"), ("POST", "/api/v1/instances/{}/answer"),
              ("POST", "/api/v1/instances/{}/withdraw"), ("GET", "/api/v1/agreements/{}"),
              ("GET", "/api/v1/agreements/{}/pdf"))
NOT_JSON = "请求体不是有效的 JSON"
FILING = {"dest_type": "job_seeking"}


def token(client, username):
    resp = client.post("/api/v1/token", json={"username": username, "password": "demo1234"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return {"Authorization": "Bearer " + resp.json["token"]}


def post_raw(client, path, raw: str, **kw):
    return client.post(path, data=raw.encode(), content_type="application/json", **kw)


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def assert_json_error(resp, status: int, message: str | None = None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.get_data(as_text=True)[:300]
    if message is not None:
        assert message in resp.json["error"]["message"], resp.json


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_path_ids_beyond_the_id_column_are_a_plain_404(app, world, make_graduate, client_for, huge):
    # issue 7: bad input
    make_graduate("g1")
    for username, paths in PAGE_ROUTES.items():
        client = client_for(username)
        for path in paths:
            resp = client.get(path.format(huge))
            assert resp.status_code == 404, (path, resp.status_code)
    api = app.test_client()
    headers = token(api, "g1")
    for method, path in API_ROUTES:
        resp = api.open(path.format(huge), method=method, headers=headers, json={})
        assert_json_error(resp, 404, "资源不存在")


def test_largest_int4_id_still_reaches_the_view(app, world, make_graduate, client_for):
    # issue 7: bad input; 2^31-1 is a valid id that matches no row: the view's own 404 (ROLE-1 wording)
    make_graduate("g1")
    client = client_for("g1")
    assert client.get("/graduate/records/2147483647").status_code == 404
    api = app.test_client()
    resp = api.get("/api/v1/instances/2147483647", headers=token(api, "g1"))
    assert_json_error(resp, 404)
    assert resp.json["error"]["message"] != "资源不存在"  # answered by the view, not by the router


@pytest.mark.parametrize("value", [[1], ["g1", "demo1234"], [], "g1", 5, 0, True, None])
def test_token_with_a_non_object_body_is_422(app, world, value):
    # issue 7: bad input
    resp = post_raw(app.test_client(), "/api/v1/token", json.dumps(value))
    assert_json_error(resp, 422, "请提供用户名和密码")


def test_token_with_malformed_json_is_400(app, world):
    # issue 7: bad input
    resp = post_raw(app.test_client(), "/api/v1/token", '{"username": "g1", ')
    assert_json_error(resp, 400, NOT_JSON)


@pytest.mark.parametrize("value", [[1], "text", 7, None])
def test_generic_routes_refuse_a_non_object_body_in_json(app, world, make_graduate, value):
    # issue 7: bad input
    make_graduate("g1")
    c = app.test_client()
    g = token(c, "g1")
    start = c.post("/api/v1/processes/destination_filing/instances", headers=g, json=FILING)
    assert start.status_code == 201, start.json
    for path in ("/api/v1/processes/destination_filing/instances", f"/api/v1/instances/{start.json['id']}/answer"):
        resp = post_raw(c, path, json.dumps(value), headers=g)
        assert_json_error(resp, 400, "请求体必须是 JSON 对象")


@pytest.mark.parametrize("raw", [nested_arrays(10_000), nested_objects(10_000), nested_arrays(65),
                                 '{"username": "g1", "password": "demo1234", "x": ' + nested_arrays(64) + "}"],
                         ids=["arrays-10000", "objects-10000", "arrays-65", "object-in-64-arrays"])
def test_deeply_nested_json_is_refused_with_400(app, world, make_graduate, raw):
    # issue 7: bad input
    make_graduate("g1")
    c = app.test_client()
    assert_json_error(post_raw(c, "/api/v1/token", raw), 400, NOT_JSON)
    g = token(c, "g1")
    assert_json_error(post_raw(c, "/api/v1/processes/destination_filing/instances", raw, headers=g), 400, NOT_JSON)
    start = c.post("/api/v1/processes/destination_filing/instances", headers=g, json=FILING)
    assert start.status_code == 201, start.json
    dept = token(c, "dept_info")
    item = c.get("/api/v1/work-items", headers=dept).json["items"][0]
    assert_json_error(post_raw(c, f"/api/v1/work-items/{item['id']}/complete", raw, headers=dept), 400, NOT_JSON)
    assert c.get(f"/api/v1/work-items/{item['id']}", headers=dept).json["item"]["state"] == "open"


def test_nesting_up_to_the_limit_is_accepted(app, world, make_graduate):
    # issue 7: bad input; 64 levels in all (the body object and 63 arrays) still parse
    make_graduate("g1")
    raw = '{"username": "g1", "password": "demo1234", "x": ' + nested_arrays(63) + "}"
    resp = post_raw(app.test_client(), "/api/v1/token", raw)
    assert resp.status_code == 200, resp.json


def test_deeply_nested_json_on_a_page_form_is_a_400_page(app, world):
    # issue 7: bad input; Flask-WTF reads a JSON body as form data
    resp = post_raw(app.test_client(), "/login", nested_arrays(10_000))
    assert resp.status_code == 400
    assert NOT_JSON in resp.get_data(as_text=True)


@pytest.fixture
def boom_app(runtime):
    from flask import abort

    from webapp import create_app

    app = create_app(runtime, TESTING=True, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)

    def crash():
        raise RuntimeError("kaboom in a view")

    def bad_request():
        raise BadRequest()

    app.add_url_rule("/api/v1/_boom", "api_boom", crash)
    app.add_url_rule("/_boom", "page_boom", crash)
    app.add_url_rule("/api/v1/_abort500", "api_abort500", lambda: abort(500))
    app.add_url_rule("/api/v1/_bad", "api_bad", bad_request)
    return app


def test_an_unexpected_error_under_api_is_a_json_500_and_is_logged(boom_app, caplog):
    # issue 7: bad input
    c = boom_app.test_client()
    with caplog.at_level(logging.ERROR):
        resp = c.get("/api/v1/_boom")
    assert resp.status_code == 500
    assert resp.is_json and resp.json == {"error": {"message": "服务器内部错误，请稍后重试"}}
    assert "kaboom in a view" not in resp.get_data(as_text=True)
    assert any(r.exc_info and "kaboom in a view" in str(r.exc_info[1]) for r in caplog.records)
    resp = c.get("/api/v1/_abort500")
    assert resp.status_code == 500 and resp.json == {"error": {"message": "服务器内部错误，请稍后重试"}}


def test_an_unexpected_error_on_a_page_is_the_html_error_page(boom_app):
    # issue 7: bad input
    resp = boom_app.test_client().get("/_boom")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 500 and not resp.is_json
    assert 'id="error-message"' in text and "服务器内部错误，请稍后重试" in text
    assert "kaboom" not in text


def test_every_http_error_under_api_is_json(boom_app):
    # issue 7: bad input
    c = boom_app.test_client()
    assert_json_error(c.get("/api/v1/no-such-route"), 404, "资源不存在")
    assert_json_error(c.get("/api/v1/token"), 405, "不支持的请求方法")
    assert_json_error(c.get("/api/v1/_bad"), 400)
    assert c.get("/no-such-page").status_code == 404 and not c.get("/no-such-page").is_json
