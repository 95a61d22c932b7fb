"""OpenAPI paths and schemas of the agreement processes (ONL, TRM, OFF, OFT, PAP, DOC-1)."""
from __future__ import annotations

from typing import Any

from webapp.api.openapi import ERROR, _id, _op, _str

IDS = {"type": "array", "items": {"type": "integer"}, "maxItems": 3,
       "description": "先用 POST /attachments 上传 JPG/PNG 图片，再填写返回的编号"}
# ONL-1: the agreement terms shared by invitations, offline and paper agreements (forms/agreement.py).
TERMS = {
    "job_category": _str(description="职位类别代码（字典，见待办表单字段的 choices）"),
    "position": _str(50, description="岗位名称"), "work_place": _str(100, description="实际工作地点"),
    "trial_months": {"type": "integer", "minimum": 0, "maximum": 6, "description": "试用期（月）"},
    "salary_trial": {"type": "number", "minimum": 0, "description": "试用起薪（元/月）"},
    "salary_regular": {"type": "number", "minimum": 0, "description": "转正起薪（元/月，选填）"},
    "penalty": {"type": "number", "minimum": 0, "description": "违约金（元）"},
    "report_place": _str(100, description="报到地点"), "report_deadline": _str(format="date", description="报到期限"),
    "archive_type": _str(enum=["签约单位接收", "上级主管单位接收", "托管单位接收", "转回生源地", "升学本校接收", "升学外校接收"]),
    "archive_unit": _str(100, description="档案转递单位名称"), "archive_address": _str(200, description="档案转递单位地址"),
    "archive_contact": _str(50, description="档案转递联系人"),
    "archive_phone": _str(20, description="档案转递联系电话（手机或固话）"),
    "archive_postcode": _str(pattern="^[0-9]{6}$", description="档案转递单位邮编（6位）"),
    "hukou_type": _str(enum=["签约单位接收", "上级主管单位接收", "托管单位接收", "转回生源地"]), "hukou_address": _str(200),
    "supplement": _str(1000, description="协议补充内容"),
}
TERMS_REQUIRED = ["job_category", "position", "work_place"]
EMPLOYER = {
    "employer_name": _str(100, description="单位名称"),
    "credit_code": _str(description="统一社会信用代码（18位，GB 32100 校验位）", pattern="^[0-9A-Z]{18}$"),
    "nature": _str(description="单位性质代码（字典）"), "industry": _str(description="单位行业代码（GB/T 4754 门类）"),
    "employer_address": _str(200), "contact": _str(50, description="联系人"),
    "landline": _str(20, description="联系人固话"), "mobile": _str(description="联系人手机（11位）"),
    "email": _str(100, format="email"),
}
EMPLOYER_REQUIRED = ["employer_name", "credit_code", "nature", "industry", "employer_address", "contact", "mobile"]


def agreement_schemas() -> dict:
    offline: dict[str, Any] = {"type": "object", "required": TERMS_REQUIRED + EMPLOYER_REQUIRED,
                               "properties": {**TERMS, **EMPLOYER}}
    return {
        "EmployerRegistration": {"type": "object", "required": EMPLOYER_REQUIRED + ["division_code", "username", "password"],
                                 "properties": {**EMPLOYER, "division_code": _str(pattern="^[0-9]{6}$",
                                                                                  description="所在地区行政区划代码"),
                                                "username": _str(50, pattern="^[A-Za-z0-9_]{3,50}$"),
                                                "password": _str(128, minLength=8, format="password"),
                                                "verify_by": _str(enum=["sms", "email"],
                                                                  description="验证码发送到联系人手机（默认）或邮箱")}},
        "EmployerVerification": {"type": "object", "required": ["token", "code"],
                                 "description": "注册后收到的验证码；验证通过才创建单位和账号（10分钟内有效，最多错5次）",
                                 "properties": {"token": _str(64, description="注册返回的 registration.token"),
                                                "code": _str(pattern="^[0-9]{6}$", description="6位验证码")}},
        "FindGraduate": {"type": "object", "required": ["name"], "description": "姓名加身份证号或考生号，精确匹配",
                         "properties": {"name": _str(50), "id_number": _str(description="身份证号（18位）"),
                                        "exam_no": _str(pattern="^[0-9]{14}$", description="考生号")}},
        "Invitation": {"type": "object", "required": ["name", "answer_days"] + TERMS_REQUIRED,
                       "properties": {"name": {"type": "string", "description": "毕业生姓名"},
                                      "id_number": {"type": "string", "description": "身份证号（与考生号二选一）"},
                                      "exam_no": {"type": "string", "description": "考生号（与身份证号二选一）"},
                                      "answer_days": {"type": "integer", "minimum": 1, "maximum": 30,
                                                      "description": "应约有效期（天）"}, **TERMS}},
        "OfflineAgreement": {**offline, "description": "线下签约协议信息（OFF-1）；draft 为 true 时只保存草稿，可缺项",
                             "properties": {**offline["properties"], "draft": {"type": "boolean"}}},
        "PaperAgreement": {**offline, "required": offline["required"] + ["attachment_ids"],
                           "properties": {**offline["properties"], "attachment_ids": IDS}},
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
        "/employers": {"post": {**_op("用人单位注册（无需登录）：向联系人发送验证码，验证后才创建账号", body="EmployerRegistration",
                                      ok="202"), "security": []}},
        "/employers/verify": {"post": {**_op("提交注册验证码，创建单位和账号（无需登录）", body="EmployerVerification",
                                             ok="201"), "security": []}},
        "/graduates/lookup": {"post": _op("用人单位按姓名和身份证号/考生号查找一名毕业生（不返回列表）", body="FindGraduate")},
        "/invitations": {"post": _op("用人单位发起签约邀请（ONL-1）", body="Invitation", ok="201")},
        "/agreements": {"get": _op("我的协议（毕业生本人、用人单位本单位、审核人员本院系/本校）", params=page)},
        "/agreements/{agreement_id}": {"get": _op("协议详情：状态、协议编号、条款、图片、解约记录",
                                                  params=[_id("agreement_id")])},
        "/agreements/{agreement_id}/pdf": {"get": pdf},
        "/instances/{instance_id}/offline-draft": {"post": _op("保存线下签约协议信息草稿（OFF-1）", body="OfflineAgreement",
                                                               params=[_id("instance_id")])},
        "/instances/{instance_id}/assist-link": {"post": _op("生成用人单位协助回传链接（一次性、有效期7天，OFF-3）", ok="201",
                                                             params=[_id("instance_id")])},
    }




def completions() -> dict:
    """Properties of the agreement forms' completion bodies (POST /work-items/<id>/complete)."""
    return {**TERMS, **EMPLOYER, "attachment_ids": IDS, "answer": {"type": "string", "enum": ["accept", "refuse"]}}
