"""Simplified Chinese first, English second (flask-babel). Source strings are Chinese; the
English catalogue lives in saas/translations/en."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, request, session
from flask_babel import Babel, format_datetime, get_locale

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
DISPLAY_TIMEZONE = "Asia/Shanghai"


def local_to_aware(value: str) -> str:
    """A ``datetime-local`` form value (Beijing wall time, no offset) → aware ISO 8601; values
    that carry an offset are kept as they are. Raises ValueError on junk."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(DISPLAY_TIMEZONE))
    return moment.isoformat()


def select_locale() -> str:
    chosen = request.args.get("lang") or session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_DEFAULT_TIMEZONE"] = DISPLAY_TIMEZONE
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).parent / "translations")
    Babel(app, locale_selector=select_locale, timezone_selector=lambda: DISPLAY_TIMEZONE)
    app.jinja_env.globals["get_locale"] = get_locale
    # Display in Asia/Shanghai (storage is UTC): {{ format_datetime(dt, 'yyyy-MM-dd HH:mm:ss') }}
    app.jinja_env.globals["format_datetime"] = format_datetime
