"""The migrations build exactly the schema the models declare (design: migrations are the schema)."""
from __future__ import annotations


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
