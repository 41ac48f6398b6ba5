"""The `cleangate` command: Flask's CLI over ``create_app``; subsystems add their groups in
their ``init_app`` (db, tenant, demo, …)."""

from __future__ import annotations

from flask.cli import FlaskGroup

from saas.app import create_app

main = FlaskGroup(
    create_app=lambda: create_app(),
    add_version_option=True,
    load_dotenv=False,
    set_debug_flag=False,
    help="CleanGate 环保门禁云 cloud platform.",
)

if __name__ == "__main__":
    main()
