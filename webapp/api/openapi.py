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
                               "review 为 decision/reason/edits；destination_void 为空对象",
                               "properties": {"decision": {"type": "string", "enum": ["approve", "return", "reject"]},
                                              "reason": {"type": "string", "maxLength": 200},
                                              "edits": destination, **destination["properties"]}},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/token": {"post": {**_op("登录并取得访问令牌", body="Login"), "security": []}},
            "/me": {"get": _op("当前账号")},
            "/processes": {"get": _op("可发起的流程")},
            "/processes/{process_id}/instances": {"post": _op("发起流程（提交去向登记）", body="Destination", ok="201",
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
        },
    }
