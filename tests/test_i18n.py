"""The English UI catalogue: pages switch language, and the committed catalogue is complete and
compiled. A new Chinese UI string without an English translation fails here (run
scripts/i18n.sh, translate, commit the .pot, .po and .mo)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from saas.models.identity import Role
from tests.conftest import Backend, csrf_from, login, make_user

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "saas" / "translations"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
POT = TRANSLATIONS / "messages.pot"
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}  # as in scripts/i18n.sh

# Han ideographs and CJK/full-width punctuation.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale="en" if path.suffix == ".po" else None)


def _ids(catalog: Catalog) -> set[str]:
    return {_msgid(m.id) for m in catalog if m.id}


def _msgid(msgid: str | tuple[str, ...]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def _extracted_ids() -> set[str]:
    """What pybabel extract would find today in the packages that render pages (as
    scripts/i18n.sh runs it), with the repository's babel.cfg."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    return {
        _msgid(message)
        for package in ("saas", "billing", "tenants", "miniprogram_api")
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map, options_map, keywords=KEYWORDS
        )
    }


def _visible_chinese(html: str) -> list[str]:
    # The language switcher names Chinese in Chinese on purpose.
    return _CJK.findall(html.replace(">中文<", "><"))


def test_login_page_defaults_to_chinese(sqlite_backend: Backend) -> None:
    response = sqlite_backend.app.test_client().get("/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in html
    assert "<h1>登录</h1>" in html
    assert "用户名" in html
    assert "Log in" not in html


def test_login_page_in_english_has_no_untranslated_strings(sqlite_backend: Backend) -> None:
    response = sqlite_backend.app.test_client().get("/login?lang=en")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "<h1>Log in</h1>" in html
    assert "Username" in html
    assert "Password" in html
    assert "CleanGate" in html
    leftovers = sorted(msgid for msgid in _ids(_read_po(EN_PO)) if msgid in html)
    assert leftovers == []
    assert _visible_chinese(html) == []


def test_language_choice_sticks_for_the_session(sqlite_backend: Backend) -> None:
    client = sqlite_backend.app.test_client()
    assert client.get("/lang/en?next=/login").status_code == 302
    assert "<h1>Log in</h1>" in client.get("/login").get_data(as_text=True)
    assert client.get("/lang/zh").status_code == 302
    assert "<h1>登录</h1>" in client.get("/login").get_data(as_text=True)


def test_password_errors_are_translated(sqlite_backend: Backend) -> None:
    """The lazily translated _PASSWORD_ERRORS render in the session's language."""
    app = sqlite_backend.app
    user = make_user(app, Role.PROVIDER_OPS, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    form = {
        "current_password": "whatever-123",
        "new_password": "Another-Horse-10",
        "confirm_password": "Different-Horse-11",
    }

    form["csrf_token"] = csrf_from(client, "/account/password")
    chinese = client.post("/account/password", data=form)
    assert chinese.status_code == 400
    assert "两次输入的新密码不一致" in chinese.get_data(as_text=True)

    client.get("/lang/en")
    form["csrf_token"] = csrf_from(client, "/account/password")
    english = client.post("/account/password", data=form)
    html = english.get_data(as_text=True)
    assert english.status_code == 400
    assert "The two new passwords do not match." in html
    assert _visible_chinese(html) == []


def test_every_source_string_is_in_the_template_and_translated() -> None:
    extracted = _extracted_ids()
    assert "登录" in extracted  # the extractor found the templates
    assert "当前密码不正确" in extracted  # and the lazy_gettext strings in Python

    assert _ids(_read_po(POT)) == extracted, "messages.pot is stale: run scripts/i18n.sh"

    catalog = _read_po(EN_PO)
    translated = {_msgid(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(extracted - translated)
    assert missing == [], f"untranslated in {EN_PO.relative_to(ROOT)}: {missing}"


def test_compiled_catalogue_matches_the_po() -> None:
    catalog = _read_po(EN_PO)
    assert not catalog.fuzzy, "a fuzzy header makes pybabel compile skip the catalogue"
    expected = {_msgid(m.id): m.string for m in catalog if m.id and m.string and not m.fuzzy}

    with EN_MO.open("rb") as handle:
        compiled = read_mo(handle)
    actual = {_msgid(m.id): m.string for m in compiled if m.id}

    assert actual == expected, "messages.mo is stale: run scripts/i18n.sh"
