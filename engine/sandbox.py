"""The restricted environment every BPMN expression and script runs in.

SpiffWorkflow's default environment is plain eval/exec with full builtins, and
the script engine is not serialized, so the runner sets this environment on
every load. Code is compiled with RestrictedPython (no imports, no dunder or
underscore names, guarded attribute/item access, curated builtins) and stopped
after a time limit.
"""
from __future__ import annotations

import ast
import datetime as _dt
import functools
import json
import operator
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from RestrictedPython import (
    compile_restricted_eval,
    compile_restricted_exec,
    limited_builtins,
    safe_builtins,
    utility_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from core.errors import ScriptRefused

if TYPE_CHECKING:
    from _typeshed import TraceFunction

_T = TypeVar("_T")

SCRIPT_FILENAME = "<bpmn-script>"

ServiceCall = Callable[[dict[str, Any], str, dict[str, Any]], Any]
# The runner binds the step's service dispatcher here for the duration of one step.
current_service_call: ContextVar[ServiceCall | None] = ContextVar("current_service_call", default=None)


class ScriptTimeout(ScriptRefused):
    pass


def _builtins() -> dict[str, Any]:
    allowed = dict(safe_builtins)
    allowed.update(limited_builtins)
    allowed.update(utility_builtins)
    for name in ("sum", "min", "max", "any", "all", "enumerate", "sorted", "reversed", "dict", "map", "filter"):
        allowed[name] = __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for forbidden in ("__import__", "open", "compile", "exec", "eval", "globals", "locals", "vars", "getattr", "setattr", "delattr", "help", "input"):
        allowed.pop(forbidden, None)
    return allowed


_BUILTINS = _builtins()
_GLOBALS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": lambda op, x, y: _inplace(op, x, y),
    "datetime": _dt.datetime,
    "timedelta": _dt.timedelta,
    "date": _dt.date,
}


_INPLACE = {"+=": operator.add, "-=": operator.sub, "*=": operator.mul}
_FORBIDDEN_NAMES = frozenset({"open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr",
                              "setattr", "delattr", "input", "breakpoint", "memoryview", "type", "object"})


def _inplace(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:
        raise ScriptRefused(f"流程脚本不支持运算 {op}")
    return _INPLACE[op](x, y)


# The shape of code a BPMN script, condition or timer expression may have (issue 12). Straight-line code
# only: no loop, no try (a script cannot catch its own timeout), no function, no comprehension, so every
# script ends after a number of operations bounded by its length. What can grow a value is bounded too:
# no ** or << (7 ** 30000000 runs for seconds in C), and + and * (by a literal at most MAX_REPEAT) may at
# most multiply the size of the data they start from by MAX_GROWTH ('a' * 2000000000 is refused).
_ALLOWED_NODES = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.If, ast.IfExp, ast.Pass,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp,
    ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Subscript, ast.Slice, ast.Attribute, ast.Call, ast.keyword,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)
_CALLABLE = frozenset({"len", "str", "int", "float", "bool", "min", "max", "abs", "round", "list", "dict",
                       "sorted", "any", "all", "datetime", "date", "timedelta"})
_METHODS = frozenset({"get", "keys", "values", "items", "strip", "lower", "upper", "startswith", "endswith",
                      "isoformat", "date", "fromisoformat", "now", "today"})
MAX_REPEAT = 1000  # the largest literal a value may be multiplied by
MAX_GROWTH = 4096  # how many times + and * together may multiply a value's size
MAX_LITERAL = 10_000  # characters of one string literal


def check_shape(source: str, mode: str = "exec") -> None:
    """Refuse code outside the bounded shape above, with a message naming the first thing refused."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptRefused(f"流程脚本有语法错误：{exc.msg}") from None
    growth = 1
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ScriptRefused("流程脚本不允许 import，已拒绝执行")
        if not isinstance(node, _ALLOWED_NODES):
            raise ScriptRefused(f"流程脚本不允许使用 {type(node).__name__}（只允许赋值、条件和表达式，"
                                "不允许循环、try、函数和推导式），已拒绝执行")
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and len(node.value) > MAX_LITERAL:
            raise ScriptRefused("流程脚本中的字符串常量过长，已拒绝执行")
        growth *= _growth(node)
        if growth > MAX_GROWTH:
            raise ScriptRefused("流程脚本可能生成过大的数据（+ 和 * 过多或乘数过大），已拒绝执行")
        if isinstance(node, ast.Call):
            _check_call(node)


def _growth(node: ast.AST) -> int:
    if isinstance(node, ast.BinOp):
        op, operands = node.op, [node.left, node.right]
    elif isinstance(node, ast.AugAssign):
        op, operands = node.op, [node.value]
    else:
        return 1
    if isinstance(op, ast.Add):
        return 2
    if isinstance(op, ast.Mult):
        literal = [o.value for o in operands if isinstance(o, ast.Constant) and isinstance(o.value, int | float)]
        if not literal or abs(literal[0]) > MAX_REPEAT:
            raise ScriptRefused(f"流程脚本中的乘法须乘以不超过 {MAX_REPEAT} 的数字常量，已拒绝执行")
        return max(1, int(abs(literal[0])))
    return 1


def _check_call(node: ast.Call) -> None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in _CALLABLE:
        return
    if isinstance(func, ast.Attribute) and func.attr in _METHODS:
        return
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", type(func).__name__)
    raise ScriptRefused(f"流程脚本不允许调用 {name}，已拒绝执行")


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> CodeType:
    """Checked and compiled once per process (issue 11: each step's script engine is new, so a per-engine cache
    compiled every gateway condition and script again on every step); a refusal raises, and is not cached."""
    check_shape(source, mode)
    tree = ast.parse(source, mode=mode)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & _FORBIDDEN_NAMES
    if used:
        raise ScriptRefused("流程脚本使用了被禁止的名称，已拒绝执行：" + ", ".join(sorted(used)))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=SCRIPT_FILENAME)
    if result.errors or result.code is None:
        raise ScriptRefused("流程脚本不安全或有语法错误，已拒绝执行：" + "; ".join(result.errors))
    code: CodeType = result.code
    return code


class _Deadline:
    """Stops script code after `seconds` by tracing only frames of BPMN scripts."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def _local(self, frame: FrameType, event: str, arg: Any) -> TraceFunction:
        if time.monotonic() > self.deadline:
            raise ScriptTimeout("流程脚本运行超时，已停止")
        return self._local

    def __call__(self, frame: FrameType, event: str, arg: Any) -> TraceFunction | None:
        if frame.f_code.co_filename == SCRIPT_FILENAME:
            return self._local
        return None


def _run_limited(fn: Callable[[], _T], seconds: float) -> _T:
    previous = sys.gettrace()
    sys.settrace(_Deadline(seconds))
    try:
        return fn()
    finally:
        sys.settrace(previous)


# SpiffWorkflow ships no type information, so its base class is Any to mypy.
class RestrictedEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    def __init__(self, time_limit: float = 2.0) -> None:
        super().__init__({})
        self.time_limit = time_limit

    def _code(self, source: str, mode: str) -> CodeType:
        return _compile(source, mode)

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        code = self._code(expression, "eval")
        scope = dict(_GLOBALS)
        scope.update(external_context or {})
        scope.update(context)
        return _run_limited(lambda: eval(code, scope), self.time_limit)  # noqa: S307 - restricted code

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        code = self._code(script, "exec")
        scope = dict(_GLOBALS)
        scope.update(external_context or {})
        scope.update(context)
        _run_limited(lambda: exec(code, scope), self.time_limit)  # noqa: S102 - restricted code
        for key, value in scope.items():
            if key.startswith("_") or key in _GLOBALS or callable(value):
                continue
            if external_context and key in external_context:
                continue
            context[key] = value
        return True

    def call_service(self, context: dict[str, Any], operation_name: str | None = None,
                     operation_params: dict[str, Any] | None = None, **kwargs: Any) -> str:
        dispatch = current_service_call.get()
        if dispatch is None:
            raise ScriptRefused(f"服务任务 {operation_name} 只能在流程步骤中运行")
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        # Spiff's service task always passes its operator id; str() only spells a missing one "None",
        # as the handler lookup's error message did before.
        return json.dumps(dispatch(context, str(operation_name), params), ensure_ascii=False, default=str)


def make_script_engine(time_limit: float = 2.0) -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment(time_limit))
