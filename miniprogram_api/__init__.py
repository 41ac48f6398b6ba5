"""WeChat mini-program backend, mounted at /mp/v1 (issue 8)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registration point called by saas.app.create_app; nothing to register yet."""
