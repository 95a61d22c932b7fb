"""Production entry point: `gradflow deploy` first, then `gunicorn gradflow.wsgi:app`."""
from __future__ import annotations

from gradflow.runtime import build_runtime
from webapp import create_app

app = create_app(build_runtime())
