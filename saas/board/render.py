"""Render the shared board page (``saas/board/page/``) on the cloud side.

The directory holds one Jinja2 template and its stylesheet and script; the edge box renders the
same files from the installed ``saas`` package without importing this module (docs/board.md).
The template takes only ``board`` (``saas.compliance.board.view``), ``feed`` (the script's
config), ``assets`` (where board.css and board.js are served) and ``qr_svg``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import segno

PAGE_DIR = Path(__file__).resolve().parent / "page"
ASSETS = {"board.css": "text/css; charset=utf-8", "board.js": "text/javascript; charset=utf-8"}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def asset(name: str) -> bytes:
    """board.css or board.js (KeyError for anything else)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (PAGE_DIR / name).read_bytes()


@cache
def assets_version() -> str:
    """Digest of both assets: part of their URL, so a deploy never meets a stale cache."""
    digest = hashlib.sha256()
    for name in sorted(ASSETS):
        digest.update(asset(name))
    return digest.hexdigest()[:12]


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (segno; error correction M), or "". The template
    marks it safe: it is segno's own markup (modules as paths), no text of the URL is in it."""
    if not url:
        return ""
    code = segno.make(url, error="m", micro=False)
    return str(code.svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff"))


def render_page(board: dict[str, Any], feed: dict[str, Any], assets: str) -> str:
    return (
        _environment()
        .get_template("board.html")
        .render(board=board, feed=feed, assets=assets, qr_svg=qr_svg(board.get("cargo_url") or ""))
    )
