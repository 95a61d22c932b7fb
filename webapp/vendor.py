"""Front-end packages from the npm registry (installed by `npm ci` in the set-up), served by the app.

Only the files listed here are reachable: a page asks for `/vendor/<name>`, never a path into
node_modules. Never a CDN (brief: front-end packages)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_file
from werkzeug.security import safe_join

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
BPMN_DIST = NODE_MODULES / "bpmn-js" / "dist"

FILES: dict[str, Path] = {
    "bpmn-viewer.js": BPMN_DIST / "bpmn-navigated-viewer.production.min.js",
    "bpmn-modeler.js": BPMN_DIST / "bpmn-modeler.production.min.js",
    "echarts.min.js": NODE_MODULES / "echarts" / "dist" / "echarts.min.js",
}
# the style sheets and fonts bpmn-js draws with; they refer to each other by relative paths
ASSET_DIRS: dict[str, Path] = {"bpmn-js": BPMN_DIST / "assets"}
TYPES = {".js": "text/javascript", ".css": "text/css", ".woff": "font/woff", ".woff2": "font/woff2",
         ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject", ".svg": "image/svg+xml"}

bp = Blueprint("vendor", __name__, url_prefix="/vendor")


def _send(path: Path | None):
    if path is None or not path.is_file() or path.suffix not in TYPES:
        abort(404)
    return send_file(path, mimetype=TYPES[path.suffix], max_age=86400)


@bp.route("/<name>")
def file(name: str):
    return _send(FILES.get(name))


@bp.route("/<package>/assets/<path:rest>")
def asset(package: str, rest: str):
    root = ASSET_DIRS.get(package)
    if root is None:
        abort(404)
    joined = safe_join(str(root), rest)
    return _send(Path(joined) if joined else None)
