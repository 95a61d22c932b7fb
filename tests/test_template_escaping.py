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
