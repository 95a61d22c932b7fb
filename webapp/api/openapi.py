"""The OpenAPI 3 document for /api/v1 (served at /api/v1/openapi.json)."""
from __future__ import annotations

from domain.modules import ModuleRegistry
from engine.inbox import PAGE_SIZES, SORTS

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, body: str | None = None, ok: str = "200", params: list | None = None, multipart=False):
    op: dict = {"summary": summary, "responses": {
        ok: {"description": "成功", "content": {"application/json": {"schema": {"type": "object"}}}},
        "400": {"description": "请求有误", "content": {"application/json": {"schema": ERROR}}},
        "401": {"description": "未登录", "content": {"application/json": {"schema": ERROR}}},
        "404": {"description": "不存在或无权访问", "content": {"application/json": {"schema": ERROR}}},
        "409": {"description": "冲突：已被处理或状态不允许", "content": {"application/json": {"schema": ERROR}}},
        "422": {"description": "校验失败", "content": {"application/json": {"schema": ERROR}}},
        "429": {"description": "请求过于频繁（Retry-After 秒后重试）", "content": {"application/json": {"schema": ERROR}}},
        "503": {"description": "数据库暂时无法访问（Retry-After 秒后重试）",
                "content": {"application/json": {"schema": ERROR}}},
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


def document(modules: ModuleRegistry) -> dict:
    """The generic routes plus every process module's own paths and schemas."""
    schemas: dict = {}
    paths: dict = {}
    completion: dict = {}
    lines = []
    for module in modules.modules:
        schemas.update(module.openapi_schemas)
        paths.update(module.openapi_paths)
        for spec in module.forms:
            completion.update(spec.completion_schema)
            if spec.description:
                lines.append(f"{spec.form_key}：{spec.description}")
    starts = modules.starts()
    start_refs = [_ref(s.schema) for s in starts if s.schema]
    return {
        "openapi": "3.0.3",
        "info": {"title": "gradflow API", "version": "1", "description": "毕业去向登记与网上签约平台接口。"
                 "认证：POST /token 取得令牌后使用 Authorization: Bearer <token>（令牌会过期，可在 /tokens 查看和吊销；"
                 "过期或已吊销的令牌返回 401）；或使用登录会话（写操作需 X-CSRFToken）。"},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "message": {"type": "string"}, "details": {"type": "object"}}}}},
                "Answer": {"type": "object", "required": ["answer"],
                           "properties": {"answer": _str(enum=["accept", "refuse"], description="接受 / 拒绝")}},
                "Contact": {"type": "object", "required": ["phone"], "properties": {
                    "phone": _str(pattern="^1[3-9][0-9]{9}$", description="手机号码"),
                    "email": _str(100, format="email", description="电子邮箱（可空）")}},
                "Login": {"type": "object", "required": ["username", "password"], "properties": {
                    "username": {"type": "string"}, "password": {"type": "string"},
                    "label": _str(100, description="令牌的备注（可选），如设备或脚本名称")}},
                "ApiToken": {"type": "object", "description": "访问令牌（不含令牌本身）", "properties": {
                    "id": {"type": "integer"}, "label": {"type": "string", "nullable": True},
                    "created_at": _str(format="date-time"), "expires_at": _str(format="date-time"),
                    "last_used_at": _str(format="date-time", nullable=True),
                    "revoked_at": _str(format="date-time", nullable=True),
                    "active": {"type": "boolean", "description": "未过期且未吊销"},
                    "current": {"type": "boolean", "description": "本次请求所用的令牌"}}},
                "Completion": {"type": "object", "description": "按事项的 form_key：" + "；".join(lines)
                               + "。字段说明见 GET /work-items/{item_id} 的 fields", "properties": completion},
                "StartProcess": {"description": "按 process_id：" + "；".join(
                    f"{s.process_id} 同 {s.schema}" for s in starts if s.schema),
                    **({"oneOf": start_refs} if start_refs else {"type": "object"})},
                **schemas,
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/token": {"post": {**_op("登录并取得新的访问令牌（有效期见 expires_in / expires_at，同一账号可持有多个）",
                                      body="Login"), "security": []}},
            "/tokens": {"get": _op("本账号的访问令牌（不含令牌本身，含已过期和已吊销的）")},
            "/tokens/{token_id}": {"delete": _op("吊销本账号的一个访问令牌（他人的令牌返回 404）",
                                                 params=[_id("token_id")])},
            "/me": {"get": _op("当前账号")},
            "/me/contact": {"post": _op("毕业生修改本人手机号码和电子邮箱（GRAD-3）", body="Contact")},
            "/csrf-token": {"get": _op("取得会话的 CSRF 令牌（用登录会话调用写接口时放在 X-CSRFToken）")},
            "/processes": {"get": _op("可发起的流程")},
            "/processes/{process_id}/instances": {"post": _op("发起流程：" + "、".join(
                f"{s.process_id} {s.title}" for s in starts), body="StartProcess", ok="201",
                params=[{"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"}}])},
            "/attachments": {"post": _op("上传证明材料图片（JPG/PNG，最多3张）", multipart=True, ok="201")},
            "/work-items": {"get": _op("我的待办", params=[
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "completed"]}},
                {"name": "type", "in": "query", "schema": {"type": "string"}},
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {"name": "kind", "in": "query", "description": "流程 id（事项类型）", "schema": {"type": "string"}},
                {"name": "dept", "in": "query", "description": "院系 id（仅学校审核账号）", "schema": {"type": "integer"}},
                {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
                {"name": "page_size", "in": "query", "schema": {"type": "integer", "enum": list(PAGE_SIZES)}},
                {"name": "page", "in": "query", "schema": {"type": "integer"}}])},
            "/work-items/{item_id}": {"get": _op("读取待办：表单字段与当前数据", params=[_id("item_id")])},
            "/work-items/{item_id}/complete": {"post": _op("办理待办", body="Completion", params=[_id("item_id")])},
            "/instances": {"get": _op("我的流程实例")},
            "/instances/{instance_id}": {"get": _op("流程实例：状态与历史", params=[_id("instance_id")])},
            "/instances/{instance_id}/answer": {"post": _op("回应签约邀请（毕业生）或解约申请（另一方）", body="Answer",
                                                            params=[_id("instance_id")])},
            "/messages": {"get": _op("消息中心")},
            "/openapi.json": {"get": {**_op("本文档"), "security": []}},
            **paths,
        },
    }
