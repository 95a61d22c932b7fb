"""Flask app factory: one blueprint package per persona, a database session per request."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, has_request_context, jsonify, make_response, render_template, request
from flask import session as flask_session  # `session` here would be the webapp.session module
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import user_logged_in
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from core.errors import Conflict, EngineError
from core.i18n import N_
from domain.models import Account
from webapp import converters
from webapp.extensions import babel, csrf, init_limiter, login_manager, retry_after_seconds
from webapp.json_input import GradflowRequest
from webapp.session import BUSY, SESSION_VERSION_KEY, is_lock_conflict

log = logging.getLogger(__name__)
LOCALES = ("zh", "en")
SERVER_ERROR = N_("服务器内部错误，请稍后重试")
DATABASE_UNAVAILABLE = N_("系统暂时无法访问数据库，请稍后重试")
DATABASE_RETRY_AFTER = 30  # seconds, in the 503's Retry-After
CSRF_TOKEN_HOURS = 8  # a page's form can be sent this long after it was served
HSTS = "max-age=31536000"  # production only: the site is served over HTTPS there
# No inline script anywhere (behaviour lives in static files driven by data attributes, webapp/static/app.js);
# inline style attributes remain allowed. Images may be data: URLs (the favicon) or blob: (previews).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")
HTTP_MESSAGES = {400: N_("请求无效"), 401: N_("请先登录或提供访问令牌"), 403: N_("无权访问"), 409: N_("请求与当前状态冲突"),
                 415: N_("请求体类型不受支持，请使用 application/json"), 422: N_("请求内容无法处理"),
                 429: N_("请求过于频繁，请稍后重试")}


def select_locale() -> str:
    if not has_request_context():  # a CLI command or worker with an app context: the default language
        return "zh"
    chosen = request.args.get("lang") or request.cookies.get("lang")
    return chosen if chosen in LOCALES else "zh"


def create_app(runtime: Any, **overrides: Any) -> Flask:
    """The web app over a runtime built by the wiring (gradflow.runtime.build_runtime)."""
    app = Flask(__name__)
    production = runtime.settings.mode == "production"
    app.request_class = GradflowRequest  # bad or too deeply nested JSON bodies are a 400 (issue 7)
    converters.install(app)  # before any blueprint: `<int:x>` ids outside int4 are a 404 (issue 7)
    app.config.update(
        SECRET_KEY=runtime.settings.secret_key,
        MAX_CONTENT_LENGTH=runtime.settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,  # production is served over HTTPS only
        REMEMBER_COOKIE_SECURE=production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=CSRF_TOKEN_HOURS * 3600,
        BABEL_DEFAULT_LOCALE="zh",
        JSON_AS_ASCII=False,
    )
    app.config.update(overrides)
    app.extensions["gradflow"] = runtime
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own provider (the only one set here)
        app.json.ensure_ascii = False
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录")

    @app.before_request
    def _open_session():
        g.db = runtime.Session()
        g.runtime = runtime

    @app.after_request  # registered before the limiter's, so it runs after it: Flask runs them last-first
    def _keep_retry_after(resp):
        if g.get("database_unavailable"):  # Flask-Limiter rewrites Retry-After on the login routes
            resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return resp

    csrf.init_app(app)  # after _open_session: its refusal page needs the session
    init_limiter(app, runtime.settings.ratelimit_storage_url)  # this app's own counters (VER-8, issue 8)

    @app.teardown_request
    def _close_session(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.after_request
    def _remember_locale(resp):
        lang = request.args.get("lang")
        if lang in LOCALES:
            resp.set_cookie("lang", lang, samesite="Lax", max_age=3600 * 24 * 365, secure=production)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        # setdefault: a blueprint's stricter policy (the assist link and /verify: no-referrer) stays.
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if production:
            resp.headers.setdefault("Strict-Transport-Security", HSTS)
        return resp

    _register_blueprints(app, runtime)

    from webapp import filters

    filters.register(app)
    _register_error_handlers(app)
    return app


def _register_blueprints(app: Flask, runtime: Any) -> None:
    from webapp.admin.routes import bp as admin_bp
    from webapp.api.routes import bp as api_bp
    from webapp.auth.routes import bp as auth_bp
    from webapp.designer.routes import bp as designer_bp
    from webapp.graduate.routes import bp as graduate_bp
    from webapp.review.routes import bp as review_bp
    from webapp.vendor import bp as vendor_bp

    for bp in (auth_bp, graduate_bp, review_bp, admin_bp, designer_bp, vendor_bp):
        app.register_blueprint(bp)
    for module in runtime.modules.modules:  # each process module's own pages
        for bp in module.blueprints:
            app.register_blueprint(bp)
    for bp in (api_bp, *(b for m in runtime.modules.modules for b in m.api_blueprints)):
        app.register_blueprint(bp)
        csrf.exempt(bp)  # the API checks CSRF itself for cookie-authenticated writes


def _register_error_handlers(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        if wants_json():
            return jsonify(error={"message": _(exc.message), "details": exc.details}), exc.status
        return render_template("error.html", message=_(exc.message)), exc.status

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        msg = _("页面已过期或请求来源无效，请刷新页面后重试")
        if wants_json():
            return jsonify(error={"message": msg}), 400
        return render_template("error.html", message=msg), 400

    @app.errorhandler(404)
    def _not_found(_exc):
        if wants_json():
            return jsonify(error={"message": _("资源不存在")}), 404
        return render_template("error.html", message=_("页面不存在")), 404

    @app.errorhandler(413)
    def _too_large(_exc):
        msg = _("上传的文件过大")
        if wants_json():
            return jsonify(error={"message": msg}), 413
        return render_template("error.html", message=msg), 413

    @app.errorhandler(405)
    def _method(_exc):
        if wants_json():
            return jsonify(error={"message": _("不支持的请求方法")}), 405
        return render_template("error.html", message=_("不支持的请求方法")), 405

    _register_database_handlers(app)
    app.register_error_handler(429, _too_many_requests)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _internal_error)


def _register_database_handlers(app: Flask) -> None:
    for db_error in (OperationalError, InterfaceError, DisconnectionError):
        app.register_error_handler(db_error, _database_error)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _too_many_requests(_exc: HTTPException):
    """A rate limit (Flask-Limiter) refused the request: say so in Chinese, and when to try again."""
    seconds = retry_after_seconds()
    msg = _("请求过于频繁，请 %(seconds)s 秒后再试", seconds=seconds)
    if _wants_json():
        resp = jsonify(error={"message": msg, "details": {"retry_after": seconds}})
    else:
        resp = make_response(render_template("error.html", message=msg))
    resp.status_code = 429
    resp.headers["Retry-After"] = str(seconds)
    return resp


def _http_error(exc: HTTPException):
    """Any HTTP error without its own handler: JSON under /api/, Werkzeug's own page elsewhere."""
    if not _wants_json() or exc.code is None:
        return exc
    return jsonify(error={"message": _(HTTP_MESSAGES.get(exc.code, N_("请求无法处理")))}), exc.code


def _rollback_quietly() -> None:
    db = g.get("db")
    if db is not None:
        try:
            db.rollback()  # a failed transaction must not break the error page (PostgreSQL)
        except Exception:
            log.exception("rollback after a failed request failed")


def _database_error(exc: Exception):
    """SQLAlchemy could not talk to the database: a lost lock race is a 409, anything else a 503."""
    if is_lock_conflict(exc):  # a lost write race outside run_step: the same 409 as inside it
        _rollback_quietly()
        conflict = Conflict(BUSY)
        if _wants_json():
            return jsonify(error={"message": _(conflict.message), "details": conflict.details}), conflict.status
        return render_template("error.html", message=_(conflict.message)), conflict.status
    return _database_unavailable(exc)


def _database_unavailable(exc: Exception):
    """The database cannot be reached: a clear 503 with Retry-After, not a generic 500 (issue 12)."""
    # The driver's message only: SQLAlchemy's own text carries the statement's parameters (personal data).
    log.error("database unavailable on %s %s: %s: %s", request.method, request.path, type(exc).__name__,
              str(getattr(exc, "orig", None) or exc).strip())
    _rollback_quietly()
    # The page is drawn as for an anonymous visitor: loading the account (or its unread
    # messages) would ask the unreachable database again.
    g._login_user = login_manager.anonymous_user()
    g.database_unavailable = True
    if _wants_json():
        resp = jsonify(error={"message": _(DATABASE_UNAVAILABLE), "details": {"retry_after": DATABASE_RETRY_AFTER}})
    else:
        resp = make_response(render_template("error.html", message=_(DATABASE_UNAVAILABLE)))
    resp.status_code = 503
    resp.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return resp


def _internal_error(exc: InternalServerError):
    """Every 500 when exceptions do not propagate: unhandled ones arrive wrapped, Flask has logged them."""
    if exc.original_exception is None:  # abort(500) or a raised InternalServerError: not logged by Flask
        log.error("500 on %s %s: %s", request.method, request.path, exc.description)
    _rollback_quietly()
    if _wants_json():
        return jsonify(error={"message": _(SERVER_ERROR)}), 500
    return render_template("error.html", message=_(SERVER_ERROR)), 500


@login_manager.user_loader
def _load_user(user_id: str):
    from webapp.session import LoginAccount

    if not user_id.isdigit():
        return None
    account = g.db.get(Account, int(user_id))
    if account is None or not account.active:
        return None
    # A session from before the account's last logout or password change (a copied cookie) is over.
    if flask_session.get(SESSION_VERSION_KEY) != account.session_version:
        return None
    return LoginAccount(account)


@user_logged_in.connect
def _store_session_version(_app: Any, user: Any = None, **_extra: Any) -> None:
    """Every login_user (the login page, employer registration) records the account's session version."""
    flask_session[SESSION_VERSION_KEY] = getattr(user, "session_version", None)
