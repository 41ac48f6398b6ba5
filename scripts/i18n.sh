#!/usr/bin/env bash
# Refresh the UI translation catalogues: extract every _()/gettext/lazy_gettext string from
# saas/, billing/, tenants/, miniprogram_api/ (Python) and saas/templates (Jinja), see babel.cfg, merge new strings into each language's
# messages.po, and compile messages.mo. Translate the empty msgstr entries it reports, then
# run it again and commit the .pot, .po and .mo together (tests/test_i18n.py checks all three).
#
#   scripts/i18n.sh            # from the repository root
set -euo pipefail

cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
DIR=saas/translations

"$PYBABEL" -q extract -F babel.cfg -k _ -k gettext -k lazy_gettext \
    --project CleanGate --version 0.1 --copyright-holder CleanGate \
    -o "$DIR/messages.pot" saas billing tenants miniprogram_api
"$PYBABEL" -q update -i "$DIR/messages.pot" -d "$DIR" --no-fuzzy-matching --ignore-obsolete
"$PYBABEL" compile -d "$DIR" --statistics

# Name what still needs a translator (English pages would show the Chinese source for these)
# and fail, as tests/test_i18n.py would.
"${PYTHON:-.venv/bin/python}" - "$DIR" <<'PY'
import pathlib
import sys

from babel.messages.pofile import read_po

untranslated = 0
for po in sorted(pathlib.Path(sys.argv[1]).glob("*/LC_MESSAGES/messages.po")):
    with po.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if message.id and (not message.string or message.fuzzy):
            untranslated += 1
            print(f"{po}: untranslated: {message.id}")
sys.exit(1 if untranslated else 0)
PY
