"""Fixtures the scenario tests of more than one process module share."""
from __future__ import annotations

import pytest


@pytest.fixture
def modules_open(runtime, world, step):
    """MOD-2 / MOD-4: the province enabled archive and hukou, and the school completed their settings."""
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules",
                           ["destination", "archive", "hukou"]))
