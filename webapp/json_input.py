"""Request JSON that cannot cost much or crash: a body that does not parse, or nests deeper than
MAX_DEPTH, is a 400 with one Chinese message (issue 7), for the API and for Flask-WTF page forms alike.

The C json scanner raises RecursionError (not ValueError) on a body like "[" * 10000, which Flask
does not catch. `BoundedJson.loads` turns it into ValueError and checks the depth of what did parse
(recursion stops the scanner near 1,000 levels, so the parse stays cheap);
`GradflowRequest.on_json_loading_failed` answers every ValueError with `InvalidJson`.
"""
from __future__ import annotations

from typing import Any

from flask import Request, json, request

from core.errors import EngineError

MAX_DEPTH = 64
INVALID_JSON = "请求体不是有效的 JSON"


class InvalidJson(EngineError):
    status = 400


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers nest deeper than limit (the top-level object or array is depth 1).

    Level by level, without recursion; linear in the number of containers."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
    return False


class BoundedJson:
    """What a request parses its body with: the app's JSON provider, refusing what nests too deep."""

    def __init__(self, inner: Any = json) -> None:
        self.inner = inner

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = self.inner.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nests too deep to parse") from None
        if too_deep(value):
            raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels")
        return value

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self.inner.dumps(obj, **kwargs)


class GradflowRequest(Request):
    """Flask assigns `request.json_module = app.json` per request; this keeps the provider behind the bound."""

    @property  # type: ignore[override]
    def json_module(self) -> BoundedJson:
        return self.__dict__.get("_bounded_json") or BoundedJson()

    @json_module.setter
    def json_module(self, inner: Any) -> None:
        self.__dict__["_bounded_json"] = BoundedJson(inner)

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:  # not declared as JSON: Flask's own 415
            return super().on_json_loading_failed(e)
        raise InvalidJson(INVALID_JSON)


def json_body() -> Any:
    """The request's parsed JSON; None when the body is not declared JSON; InvalidJson (400) when it does not parse."""
    if not request.is_json:
        return None
    return request.get_json()
