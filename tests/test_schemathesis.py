"""schemathesis against the app's own OpenAPI document (issue 12, must hold 2).

The document is loaded from the Flask app in-process (WSGI, no server). Every operation gets a bounded,
derandomized number of generated requests, sent with the Bearer token of the role that may use it, in a world
with one filing under review; each response must be no 5xx, a documented status code with the documented
content type, and a body that matches the documented schema.

schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) sets ``request.node._nodeid``, which
pytest 9 no longer has, so the operations are driven here with plain hypothesis over ``operation.as_strategy()``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from domain.accounts import issue_api_token
from domain.models import Account
from tests.conftest import png_bytes

pytestmark = pytest.mark.one_backend

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 2  # per operation: the file stays within ~10 s of `make test`


@dataclass
class Api:
    schema: object
    tokens: dict[str, str]
    ids: dict[str, int]


def account_of(session, username: str) -> Account:
    return session.scalars(select(Account).where(Account.username == username)).one()


@pytest.fixture
def api(app, runtime, world, make_graduate, make_employer):
    from domain import seed

    g1 = make_graduate("g1")
    g2 = make_graduate("g2", name="李四")
    make_employer("employer")
    usernames = {"graduate": "g1", "school": "school", "department": "dept_info", "province": "province",
                 "employer": "employer", "admin": "admin"}
    tokens = {}
    with runtime.Session() as s:
        seed.make_account(s, "province", "province", "福建省教育厅", province_id=world.province.id)
        # tokens issued directly: POST /token checks a scrypt hash (0.15 s) per login; it is fuzzed below
        for role, username in usernames.items():
            tokens[role] = "Bearer " + issue_api_token(s, account_of(s, username), timedelta(hours=1))[0]
        # a second token of the graduate, for DELETE /tokens/{token_id} to revoke (the first one keeps working)
        token_id = issue_api_token(s, account_of(s, "g1"), timedelta(hours=1), label="spare")[1].id
        spare_id = account_of(s, "dept_econ").id  # the account the school's /accounts/{account_id} calls manage
        s.commit()
    client = app.test_client()
    g = {"Authorization": tokens["graduate"]}
    up = client.post("/api/v1/attachments", headers=g, content_type="multipart/form-data",
                     data={"file": (io.BytesIO(png_bytes()), "proof.png")})
    assert up.status_code == 201, up.json
    resp = client.post("/api/v1/processes/destination_filing/instances", headers=g,
                       json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                             "attachment_ids": [up.json["attachments"][0]["id"]]})
    assert resp.status_code == 201, resp.json
    items = client.get("/api/v1/work-items", headers={"Authorization": tokens["department"]}).json["items"]
    assert len(items) == 1, items
    ids = {"graduate_id": g2.id, "instance_id": resp.json["id"], "account_id": spare_id, "item_id": items[0]["id"],
           "token_id": token_id, "process_id": "destination_filing"}
    assert g1.id != g2.id
    return Api(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), tokens, ids)


# Who sends each operation: the role that may use it (the first matching prefix), so the generated requests
# get past the scope check to the form and the route; the authorisation matrix tests the other roles.
ROLE_OF_PATH = (("/accounts/", "school"), ("/data/", "school"), ("/statistics", "school"), ("/school/", "school"),
                ("/province/", "province"), ("/sync", "admin"), ("/graduates/lookup", "employer"),
                ("/graduates/", "school"), ("/invitations", "employer"), ("/work-items", "department"))


def role_of(path: str) -> str:
    return next((role for prefix, role in ROLE_OF_PATH if path.startswith(prefix)), "graduate")


def run_operation(operation, headers: dict[str, str], ids: dict[str, int]) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        for name in case.path_parameters or {}:
            if name in ids:  # a real record of this world; random ids only ever get the 404 (tested elsewhere)
                case.path_parameters[name] = ids[name]
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_every_operation_conforms_to_the_document(api):
    # the open work item first and every DELETE last: withdraw, void or a deletion end the records they hit
    operations = sorted((result.ok() for result in api.schema.get_all_operations()),
                        key=lambda op: (not op.path.startswith("/work-items"), op.method.upper() == "DELETE", op.path,
                                        op.method))
    assert len(operations) >= 60, [op.label for op in operations]
    failures: dict[str, str] = {}
    for operation in operations:
        try:
            run_operation(operation, {"Authorization": api.tokens[role_of(operation.path)]}, api.ids)
        except BaseException as exc:  # noqa: B036 - schemathesis raises a BaseExceptionGroup; every operation runs
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert not failures, f"{len(failures)} operations fail:\n\n" + "\n\n".join(
        f"{label}\n{msg}" for label, msg in failures.items())
