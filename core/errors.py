"""Errors a step can end with; each carries a Chinese message for the user."""
from __future__ import annotations

from typing import Any


class EngineError(Exception):
    status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(EngineError):
    status = 404


class Forbidden(EngineError):
    status = 404  # never say whether a record outside scope exists (ROLE-1)


class Conflict(EngineError):
    status = 409


class ValidationFailed(EngineError):
    status = 422


class ScriptRefused(EngineError):
    status = 400
