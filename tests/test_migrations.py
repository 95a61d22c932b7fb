"""The migrations build exactly the schema the models declare (design: migrations are the schema)."""
from __future__ import annotations

import pytest


def test_the_migrated_database_matches_the_models(runtime):
    # design: every model change comes with its migration
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import domain.models  # noqa: F401 - every table registers on the metadata
    import engine.models  # noqa: F401
    import processes.verification.models  # noqa: F401
    from core.db import Base

    with runtime.db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


@pytest.mark.one_backend
def test_a_database_url_with_a_percent_sign_migrates(tmp_path):
    # a percent-encoded URL (a password, a socket directory, a path) reaches the database as given, not as the
    # ini interpolation error `gradflow migrate` raised before
    from sqlalchemy import create_engine, inspect

    from gradflow.cli import migrate

    (tmp_path / "a b").mkdir()
    url = f"sqlite:///{tmp_path}/a%20b/gradflow.sqlite3"  # the space, percent-encoded
    migrate(url)
    eng = create_engine(url)
    try:
        assert {"process_instance", "work_item", "graduate"} <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()
