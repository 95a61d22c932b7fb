"""English is complete (issue 10, item 11): every page each role can reach, asked for with ?lang=en, shows no
Chinese interface text. Chinese left on a page must be data: a value seeded or entered here (names, school,
department, addresses, what a form was filled with), an administrative division name, or an element marked as
data (class="data" or lang="zh")."""
from __future__ import annotations

import io
import json
import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from domain import dicts
from domain.models import Account, Department, Employer, Graduate, Province, School
from domain.seed import DEMO_PASSWORD, seed_demo
from engine.models import ProcessVersion
from tests.conftest import TERMS, png_bytes

pytestmark = pytest.mark.sqlite_half

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
TEST_BPMN = Path(__file__).parent / "data"
TEST_PROCESS = re.compile(r'<bpmn:process\b[^>]*?\bname="([^"]+)"')
MAX_PAGES_PER_ROLE = 120
PAGES_PER_RULE = 2  # /graduate/records/1 and /2 are one page
ROLES = {  # role -> the demo account (domain/seed.py seed_demo); None: not logged in
    "graduate": "lisi",
    "graduate (first entry)": "zhangsan",
    "employer": "employer",
    "department reviewer": "dept_info",
    "school reviewer": "school",
    "province": "province",
    "admin": "admin",
    "anonymous": None,
}
SKIP_PATHS = ("/logout", "/static/", "/vendor/")
OTHERS_PAGES: tuple[str, ...] = ()  # pages left out of the check: none
OTHERS_TEXTS: set[str] = set()
ENTERED = [  # what this test types into forms
    "自由撰稿", *[v for v in TERMS.values() if isinstance(v, str)],
]


class _Text(HTMLParser):
    """The visible text of a page (text nodes, titles, placeholders, button values), minus data elements."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    ATTRS = ("title", "placeholder", "alt", "aria-label")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden: inside script/style or a data element)
        self.chunks: list[str] = []
        self.links: list[str] = []

    def _hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        hidden = self._hidden() or tag in {"script", "style", "template"} or a.get("lang") == "zh" \
            or "data" in (a.get("class") or "").split()
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if not hidden:
            self.chunks += [a[k] for k in self.ATTRS if a.get(k)]
            if tag in {"input", "button"} and a.get("type") in {"submit", "button", "reset"} and a.get("value"):
                self.chunks.append(a["value"])
        if tag not in self.VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if not self._hidden() and data.strip():
            self.chunks.append(data.strip())


def _data_values(runtime) -> set[str]:
    """Every CJK run of a value that is data: seeded rows, what the test entered, division names."""
    values: list[str] = list(ENTERED)
    with runtime.Session() as s:
        for model in (Graduate, School, Department, Province, Employer):
            for row in s.scalars(select(model)):
                values += [v for v in vars(row).values() if isinstance(v, str)]
        values += [a.display_name for a in s.scalars(select(Account))]

    def walk(node):
        values.append(node["name"])
        for child in node.get("children", ()):
            walk(child)

    for province in dicts._load("divisions.json")["provinces"]:
        walk(province)
    # the test processes of tests/data (deployed by the conftest, shown by the admin and designer lists) are test
    # data, not platform texts: the catalogue does not extract them
    for bpmn in TEST_BPMN.glob("*.bpmn"):
        values += TEST_PROCESS.findall(bpmn.read_text(encoding="utf-8"))
    # versions that other tests deployed under throwaway ids (the designer's designer_probe_*, test_engine's
    # *_retired) stay in process_version for the session: every text of their files is test data too
    with runtime.Session() as s:
        for version in s.scalars(select(ProcessVersion)):
            if version.process_id.startswith("designer_probe_") or version.process_id.endswith("_retired"):
                for text in version.files.values():
                    values += re.findall(r'(?:name|value)="([^"]*)"', text)
    return {run for v in values for run in CJK.findall(v)}


def _is_data(run: str, data: set[str]) -> bool:
    """The run is a concatenation of data values (张三, 福建省厦门市思明区 = 福建省 + 厦门市 + 思明区)."""
    ok = [True] + [False] * len(run)
    for end in range(1, len(run) + 1):
        ok[end] = any(ok[start] and run[start:end] in data for start in range(end))
    return ok[-1]


def _with_lang(path: str) -> str:
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"] + [("lang", "en")]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _get_routes(app) -> list[str]:
    return sorted({r.rule for r in app.url_map.iter_rules()
                   if "GET" in (r.methods or ()) and not r.arguments and not r.rule.startswith(SKIP_PATHS)})


def _fill(runtime, app, client_for) -> None:
    """The demo, plus a destination waiting for review and an online-signing invitation, so the lists,
    records and review pages have something to show."""
    with runtime.Session() as s:
        seed_demo(s)
        s.commit()
        lisi = s.scalar(select(Graduate).where(Graduate.name == "李四"))
        wangwu = s.scalar(select(Graduate).where(Graduate.name == "王五"))
    grad = client_for("lisi")
    resp = grad.post("/graduate/destination/new", content_type="multipart/form-data",
                     data={"dest_type": "freelance", "note": "自由撰稿", "images": [(io.BytesIO(png_bytes()), "p.png")]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    hr = client_for("employer")
    assert hr.post("/employer/find", data={"name": wangwu.name, "id_number": wangwu.id_number}).status_code == 200
    invitation = {k: str(v) for k, v in TERMS.items() if not k.endswith("_name")}
    resp = hr.post(f"/employer/invite/{wangwu.id}", data={**invitation, "answer_days": "7",
                                                           "report_deadline": "2026-07-15"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    assert lisi is not None


def _key(path: str) -> str:
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("lang", "next")]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _same_origin(href: str) -> str | None:
    link = urlsplit(href)
    if link.scheme in ("", "http") and link.netloc in ("", "localhost") and link.path.startswith("/") \
            and not link.path.startswith(SKIP_PATHS):
        return urlunsplit(("", "", link.path, link.query, ""))
    return None


def _chunks(resp, links: deque) -> list[str] | None:
    """The texts a page shows (an API answer: its error message); its links join `links`. None: not a page."""
    if resp.mimetype == "application/json":
        message = ((resp.get_json(silent=True) or {}).get("error") or {}).get("message") or ""
        return [message] if isinstance(message, str) else [json.dumps(message, ensure_ascii=False)]
    if resp.mimetype != "text/html":
        return None
    parser = _Text()
    parser.feed(resp.get_data(as_text=True))
    links.extend(link for link in map(_same_origin, parser.links) if link)
    return parser.chunks


def _crawl(app, client, home: list[str], routes: list[str], data: set[str]) -> tuple[list[str], set[str]]:
    """Breadth-first over same-origin GET links from `home`, then the parameterless GET routes; at most
    PAGES_PER_RULE pages of one URL rule. The untranslated text found, and the pages seen."""
    adapter = app.url_map.bind("localhost")
    seen: set[str] = set()
    per_rule: dict[str, int] = {}
    links, rest = deque(home), deque(routes)
    found: list[str] = []
    while (links or rest) and len(seen) < MAX_PAGES_PER_ROLE:
        key = _key((links or rest).popleft())
        try:
            rule = str(adapter.match(urlsplit(key).path, method="GET")[0])
        except Exception:  # noqa: BLE001 - a 404, a redirect or another method: fetched once like any page
            rule = key
        if key in seen or per_rule.get(rule, 0) >= PAGES_PER_RULE:
            continue
        per_rule[rule] = per_rule.get(rule, 0) + 1
        seen.add(key)
        resp = client.get(_with_lang(key))
        if resp.status_code in (301, 302, 303, 307, 308):
            target = _same_origin(resp.headers["Location"])
            if target:
                links.appendleft(target)
            continue
        chunks = _chunks(resp, links)
        if resp.status_code >= 500:
            found.append(f"{key} [{resp.status_code}]: server error")
        if chunks is None or key.startswith(OTHERS_PAGES):
            continue
        for chunk in chunks:
            bad = [run for run in CJK.findall(chunk) if not _is_data(run, data)]
            if bad and chunk not in OTHERS_TEXTS:
                found.append(f"{key} [{resp.status_code}]: {chunk[:120]!r} ({', '.join(bad)})")
    return found, seen


def test_every_page_of_every_role_is_in_english(runtime, app, client_for):
    # rule GRAD-3 (status labels and every interface text in both languages)
    _fill(runtime, app, client_for)
    data = _data_values(runtime)
    routes = _get_routes(app)
    problems: list[str] = []
    pages = 0
    for role, username in ROLES.items():
        if username is None:
            client = app.test_client()
            home = ["/", "/login"]
        else:
            client = app.test_client()
            resp = client.post("/login?lang=en", data={"username": username, "password": DEMO_PASSWORD})
            assert resp.status_code in (302, 303), (role, resp.get_data(as_text=True)[:500])
            home = [resp.headers["Location"]]
        # the first entry only shows the confirmation page (every other page sends the graduate back to it)
        found, seen = _crawl(app, client, home, [] if role == "graduate (first entry)" else routes, data)
        pages += len(seen)
        problems += [f"{role}: {line}" for line in dict.fromkeys(found)]
    assert pages > 50, pages  # the crawl really went somewhere
    assert not problems, f"{len(problems)} untranslated texts:\n" + "\n".join(problems)


def _untranslated(html: str, data: set[str]) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [c for c in parser.chunks if any(not _is_data(run, data) for run in CJK.findall(c))]


def test_form_errors_follow_the_language_and_chinese_stays_the_default(runtime, app, client_for):
    # rule GRAD-3 (validator and form messages in both languages; Chinese by default)
    with runtime.Session() as s:
        seed_demo(s)
        s.commit()
    data = _data_values(runtime)
    posts = [  # (who, url, form, the English message, the Chinese one)
        (None, "/login", {"username": "", "password": ""}, "Please enter your username", "请输入用户名"),
        ("lisi", "/graduate/account", {"phone": "123", "email": "x"},
         "The mobile number must be 11 digits starting with 13 to 19", "手机号码应为以13至19开头的11位数字"),
        ("lisi", "/graduate/destination/new", {"dest_type": ""}, "Please choose the destination type", "请选择毕业去向类型"),
    ]
    for who, url, form, english, chinese in posts:
        client = client_for(who) if who else app.test_client()
        page = client.post(url + "?lang=en", data=form).get_data(as_text=True)
        assert english in page, (url, page[:3000])
        assert not _untranslated(page, data), (url, _untranslated(page, data))
        fresh = client_for(who) if who else app.test_client()  # no lang cookie: the default language
        assert chinese in fresh.post(url, data=form).get_data(as_text=True), url
