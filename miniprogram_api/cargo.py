"""Filled in by issue 8 (see docs/miniprogram-api.md)."""
