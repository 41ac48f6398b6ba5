"""Filled in by issue 9 (docs/console.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tenants_console", __name__)
