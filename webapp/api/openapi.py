"""The OpenAPI 3 document for /api/v1 (served at /api/v1/openapi.json)."""
from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, body: str | None = None, ok: str = "200", params: list | None = None, multipart=False):
    op: dict = {"summary": summary, "responses": {
        ok: {"description": "成功", "content": {"application/json": {"schema": {"type": "object"}}}},
        "400": {"description": "请求有误", "content": {"application/json": {"schema": ERROR}}},
        "401": {"description": "未登录", "content": {"application/json": {"schema": ERROR}}},
        "404": {"description": "不存在或无权访问", "content": {"application/json": {"schema": ERROR}}},
        "409": {"description": "冲突：已被处理或状态不允许", "content": {"application/json": {"schema": ERROR}}},
        "422": {"description": "校验失败", "content": {"application/json": {"schema": ERROR}}},
    }}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if multipart:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}
    if params:
        op["parameters"] = params
    return op


def _id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _str(max_length: int | None = None, **kw) -> dict:
    out = {"type": "string", **kw}
    if max_length:
        out["maxLength"] = max_length
    return out


IDS = {"type": "array", "items": {"type": "integer"}, "maxItems": 3,
       "description": "先用 POST /attachments 上传 JPG/PNG 图片，再填写返回的编号"}
# ONL-1: the agreement terms shared by invitations, offline and paper agreements (forms/agreement.py).
TERMS = {
    "job_category": _str(description="职位类别代码（字典，见待办表单字段的 choices）"),
    "position": _str(50, description="职位名称"), "work_place": _str(100, description="工作地点"),
    "trial_months": {"type": "integer", "minimum": 0, "maximum": 6, "description": "试用期（月）"},
    "salary_trial": {"type": "number", "minimum": 0, "description": "试用期月薪（元）"},
    "salary_regular": {"type": "number", "minimum": 0, "description": "转正后月薪（元）"},
    "penalty": {"type": "number", "minimum": 0, "description": "违约金（元）"},
    "report_place": _str(100, description="报到地点"), "report_deadline": _str(format="date", description="报到期限"),
    "archive_type": _str(enum=["签约单位接收", "上级主管单位接收", "托管单位接收", "转回生源地", "升学本校接收", "升学外校接收"]),
    "archive_unit": _str(100), "archive_address": _str(200),
    "hukou_type": _str(enum=["签约单位接收", "上级主管单位接收", "托管单位接收", "转回生源地"]), "hukou_address": _str(200),
    "supplement": _str(1000, description="补充条款"),
}
TERMS_REQUIRED = ["job_category", "position", "work_place", "salary_regular"]
EMPLOYER = {
    "employer_name": _str(100, description="单位名称"),
    "credit_code": _str(description="统一社会信用代码（18位，GB 32100 校验位）", pattern="^[0-9A-Z]{18}$"),
    "nature": _str(description="单位性质代码（字典）"), "industry": _str(description="单位行业代码（GB/T 4754 门类）"),
    "employer_address": _str(200), "contact": _str(50, description="联系人"),
    "landline": _str(20, description="座机"), "mobile": _str(description="手机号码（11位）"),
    "email": _str(100, format="email"),
}
EMPLOYER_REQUIRED = ["employer_name", "credit_code", "nature", "industry", "employer_address", "contact", "mobile"]
TERMINATION = {"reason": _str(description="解约原因代码（字典，见待办表单字段的 choices）"),
               "explanation": _str(200, description="解约说明")}


def agreement_schemas() -> dict:
    offline = {"type": "object", "required": TERMS_REQUIRED + EMPLOYER_REQUIRED,
               "properties": {**TERMS, **EMPLOYER}}
    return {
        "EmployerRegistration": {"type": "object", "required": EMPLOYER_REQUIRED + ["division_code", "username", "password"],
                                 "properties": {**EMPLOYER, "division_code": _str(pattern="^[0-9]{6}$",
                                                                                  description="所在地区行政区划代码"),
                                                "username": _str(50, pattern="^[A-Za-z0-9_]{3,50}$"),
                                                "password": _str(128, minLength=8, format="password")}},
        "FindGraduate": {"type": "object", "required": ["name"], "description": "姓名加身份证号或考生号，精确匹配",
                         "properties": {"name": _str(50), "id_number": _str(description="身份证号（18位）"),
                                        "exam_no": _str(pattern="^[0-9]{14}$", description="考生号")}},
        "Invitation": {"type": "object", "required": ["name", "answer_days"] + TERMS_REQUIRED,
                       "properties": {"name": {"type": "string", "description": "毕业生姓名"},
                                      "id_number": {"type": "string", "description": "身份证号（与考生号二选一）"},
                                      "exam_no": {"type": "string", "description": "考生号（与身份证号二选一）"},
                                      "answer_days": {"type": "integer", "minimum": 1, "maximum": 30,
                                                      "description": "应约有效期（天）"}, **TERMS}},
        "Answer": {"type": "object", "required": ["answer"],
                   "properties": {"answer": _str(enum=["accept", "refuse"], description="接受 / 拒绝")}},
        "OfflineAgreement": {**offline, "description": "线下签约协议信息（OFF-1）；draft 为 true 时只保存草稿，可缺项",
                             "properties": {**offline["properties"], "draft": {"type": "boolean"}}},
        "PaperAgreement": {**offline, "required": offline["required"] + ["attachment_ids"],
                           "properties": {**offline["properties"], "attachment_ids": IDS}},
        "Termination": {"type": "object", "required": ["reason", "explanation"],
                        "description": "线上签约的协议：reason/explanation（TRM-1）；线下或纸质协议另需 attachment_ids（解约函，OFT-1）",
                        "properties": {**TERMINATION, "attachment_ids": IDS}},
        "StartProcess": {"description": "按 process_id：destination_filing 同 Destination；offline_signing 同 "
                                        "OfflineAgreement；paper_registration 同 PaperAgreement",
                         "oneOf": [_ref("Destination"), _ref("OfflineAgreement"), _ref("PaperAgreement")]},
    }


def agreement_paths() -> dict:
    pdf = _op("下载电子就业协议书 PDF（审核通过后）", params=[_id("agreement_id")])
    pdf["responses"]["200"] = {"description": "PDF 文件", "content": {"application/pdf": {
        "schema": {"type": "string", "format": "binary"}}}}
    pdf["responses"]["202"] = {"description": "正在生成，请稍后重试（生产模式下排队生成）",
                               "content": {"application/json": {"schema": {"type": "object", "properties": {
                                   "message": {"type": "string"}}}}}}
    pdf["responses"]["503"] = {"description": "暂时无法生成", "content": {"application/json": {"schema": ERROR}}}
    page = [{"name": "status", "in": "query", "schema": {"type": "string"}},
            {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["online", "offline", "paper"]}},
            {"name": "page", "in": "query", "schema": {"type": "integer"}}]
    return {
        "/employers": {"post": {**_op("用人单位注册（无需登录）", body="EmployerRegistration", ok="201"), "security": []}},
        "/graduates/lookup": {"post": _op("用人单位按姓名和身份证号/考生号查找一名毕业生（不返回列表）", body="FindGraduate")},
        "/invitations": {"post": _op("用人单位发起签约邀请（ONL-1）", body="Invitation", ok="201")},
        "/agreements": {"get": _op("我的协议（毕业生本人、用人单位本单位、审核人员本院系/本校）", params=page)},
        "/agreements/{agreement_id}": {"get": _op("协议详情：状态、协议编号、条款、图片、解约记录",
                                                  params=[_id("agreement_id")])},
        "/agreements/{agreement_id}/pdf": {"get": pdf},
        "/agreements/{agreement_id}/terminations": {"post": _op("申请解约：线上协议走线上解约（TRM），线下/纸质协议走线下解约（OFT）",
                                                                body="Termination", ok="201", params=[_id("agreement_id")])},
        "/instances/{instance_id}/answer": {"post": _op("回应签约邀请（毕业生）或解约申请（另一方）", body="Answer",
                                                        params=[_id("instance_id")])},
        "/instances/{instance_id}/offline-draft": {"post": _op("保存线下签约协议信息草稿（OFF-1）", body="OfflineAgreement",
                                                               params=[_id("instance_id")])},
        "/instances/{instance_id}/assist-link": {"post": _op("生成用人单位协助回传链接（一次性、有效期7天，OFF-3）", ok="201",
                                                             params=[_id("instance_id")])},
    }


def document() -> dict:
    destination = {
        "type": "object", "required": ["dest_type"],
        "properties": {
            "dest_type": {"type": "string", "description": "去向类型代码（见 /processes 与表单字段）"},
            "unit_name": {"type": "string", "maxLength": 100}, "unit_address": {"type": "string", "maxLength": 200},
            "unit_contact": {"type": "string", "maxLength": 50}, "unit_phone": {"type": "string", "maxLength": 20},
            "school_name": {"type": "string", "maxLength": 100}, "major": {"type": "string", "maxLength": 100},
            "country": {"type": "string", "maxLength": 50}, "note": {"type": "string", "maxLength": 200},
            "attachment_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "gradflow API", "version": "1", "description": "毕业去向登记与网上签约平台接口。"
                 "认证：POST /token 取得令牌后使用 Authorization: Bearer <token>；或使用登录会话（写操作需 X-CSRFToken）。"},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "message": {"type": "string"}, "details": {"type": "object"}}}}},
                "Login": {"type": "object", "required": ["username", "password"], "properties": {
                    "username": {"type": "string"}, "password": {"type": "string"}}},
                "Destination": destination,
                "Completion": {"type": "object", "description": "按事项的 form_key：destination 同 Destination；"
                               "review 为 decision/reason/edits；destination_void 为空对象；offline_agreement 同 "
                               "OfflineAgreement；paper_agreement 同 PaperAgreement；stamped_upload 为 attachment_ids；"
                               "termination_letter 为 reason/explanation/attachment_ids；invitation_answer、"
                               "termination_answer 为 answer。字段说明见 GET /work-items/{item_id} 的 fields",
                               "properties": {"decision": {"type": "string", "enum": ["approve", "return", "reject"]},
                                              "reason": {"type": "string", "maxLength": 200},
                                              "edits": destination, **destination["properties"], **TERMS, **EMPLOYER,
                                              "explanation": TERMINATION["explanation"],
                                              "answer": {"type": "string", "enum": ["accept", "refuse"]}}},
                **agreement_schemas(),
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/token": {"post": {**_op("登录并取得访问令牌", body="Login"), "security": []}},
            "/me": {"get": _op("当前账号")},
            "/processes": {"get": _op("可发起的流程")},
            "/processes/{process_id}/instances": {"post": _op("发起流程：destination_filing 去向登记、offline_signing "
                                                              "线下签约、paper_registration 已签就业协议登记",
                                                              body="StartProcess", ok="201",
                                                              params=[{"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"}}])},
            "/attachments": {"post": _op("上传证明材料图片（JPG/PNG，最多3张）", multipart=True, ok="201")},
            "/work-items": {"get": _op("我的待办", params=[
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "completed"]}},
                {"name": "type", "in": "query", "schema": {"type": "string"}},
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {"name": "page", "in": "query", "schema": {"type": "integer"}}])},
            "/work-items/{item_id}": {"get": _op("读取待办：表单字段与当前数据", params=[_id("item_id")])},
            "/work-items/{item_id}/complete": {"post": _op("办理待办", body="Completion", params=[_id("item_id")])},
            "/instances": {"get": _op("我的流程实例")},
            "/instances/{instance_id}": {"get": _op("流程实例：状态与历史", params=[_id("instance_id")])},
            "/instances/{instance_id}/withdraw": {"post": _op("审核前撤回（REV-6）", params=[_id("instance_id")])},
            "/instances/{instance_id}/void": {"post": _op("作废已通过的去向（DST-3）", params=[_id("instance_id")])},
            "/messages": {"get": _op("消息中心")},
            "/openapi.json": {"get": {**_op("本文档"), "security": []}},
            **agreement_paths(),
        },
    }
