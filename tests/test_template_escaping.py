"""`_()` over data in templates is escaped (issue 12): translations are plain text, not Markup."""
from __future__ import annotations


def test_translating_data_does_not_mark_it_safe(app):
    # rule ROLE-1: output is escaped; a label that carries user data cannot inject markup
    env = app.jinja_env
    with app.test_request_context("/"):
        page = env.from_string("{{ _(label) }}|{{ _('提交人：%(name)s', name=name) }}").render(
            label="<script>alert(1)</script>", name="<img src=x onerror=alert(1)>")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    with app.test_request_context("/?lang=en"):
        assert env.from_string("{{ _('首页') }}").render() == "Home"  # literals are still translated


def test_pages_carry_a_csp_without_inline_script(app, world):
    resp = app.test_client().get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and resp.headers["Referrer-Policy"]


def test_no_template_has_inline_script_or_event_handler_attributes():
    # under the CSP an inline <script> or onclick= would silently stop working
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=[\"']", re.I)
    offenders = [f"{path.relative_to(root)}:{text.count(chr(10), 0, m.start()) + 1}"
                 for path in [*root.glob("webapp/templates/**/*.html"), *root.glob("processes/*/templates/**/*.html")]
                 for text in [path.read_text(encoding="utf-8")] for m in inline.finditer(text)]
    assert offenders == []
