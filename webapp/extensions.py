"""Flask extensions shared by the app factory and the blueprints (no blueprint imports another's package)."""
from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
