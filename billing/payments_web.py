"""Filled in by issue 9 (docs/billing.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("billing_payments_web", __name__)
