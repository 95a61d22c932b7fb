"""URL converters: path ids that no id column can hold are a plain 404, never a database error.

`install(app)` replaces Flask's "int" converter, so every `<int:x>` route of every blueprint
gets the bound without an edit. Ids are SQL "integer" columns (int4 on PostgreSQL), which start
at 1: a path number outside 1..2^31-1 matches no route, like a missing row (issue 7). The int8 ids of
the append-only tables (issue 11) pass 2^31 only after two billion rows; their routes then need a
converter bounded by int8 (SQLAlchemy casts a bound id to the column's type, so a wider number on an
int4 column is a database error, not a miss).
"""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

INT4_MAX = 2**31 - 1


class IdConverter(IntegerConverter):
    """`int` bounded to what an int4 id column holds; explicit `min=` / `max=` arguments still win."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        if min is None:
            min = -INT4_MAX - 1 if signed else 1
        super().__init__(map, fixed_digits, min=min, max=INT4_MAX if max is None else max, signed=signed)


def install(app: Any) -> None:
    """Before any route is added: rules bind their converter when they are registered."""
    app.url_map.converters["int"] = IdConverter
