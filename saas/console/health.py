"""Filled in by issue 9 (docs/console.md)."""
