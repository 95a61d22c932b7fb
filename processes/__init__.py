"""Process modules, one package per process family. This list is the one place they are declared."""
from __future__ import annotations

from domain.modules import ProcessModule


def modules() -> list[ProcessModule]:
    from processes import (
        agreements,
        archive,
        confirmation,
        destination,
        hukou,
        review,
        roster,
        schools,
        statistics,
        sync,
        terminations,
        verification,
    )

    return [review.module(), destination.module(), agreements.module(), terminations.module(), confirmation.module(),
            archive.module(), hukou.module(), verification.module(), schools.module(), roster.module(),
            statistics.module(), sync.module()]
