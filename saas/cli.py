"""The `cleangate` command: Flask's CLI over ``create_app``; subsystems add their groups in
their ``init_app`` (db, tenant, demo, …)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from cleangate_demo.cli import demo_command
from saas.app import create_app
from saas.board.cli import board_cli
from saas.notify.cli import notify_group
from saas.policy.feed_pull import alerts_cli
from saas.regulator.cli import regulator_group, regulator_sim_command
from saas.scheduler import scheduler_command

main = FlaskGroup(
    create_app=lambda: create_app(),
    add_version_option=True,
    load_dotenv=False,
    set_debug_flag=False,
    help="CleanGate 环保门禁云 cloud platform.",
)
main.add_command(demo_command)


@main.command("hub", with_appcontext=False)
@click.option("--host", default="0.0.0.0", show_default=True, help="address to bind")  # noqa: S104
@click.option("--port", default=8765, show_default=True, type=int)
def hub_command(host: str, port: int) -> None:
    """Serve edge bridges over websocket (run several behind a load balancer)."""
    import logging

    from saas.edge_hub import hub_app
    from saas.edge_hub.server import run
    from saas.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per connection open/close is noise at 10 000 bridges (and costs CPU).
    logging.getLogger("websockets").setLevel(logging.WARNING)
    run(hub_app(Settings.from_env()), host, port)


# `cleangate alerts pull [--loop --interval 300]`: the regulator feed pull (docs/alerts.md)
main.add_command(alerts_cli)
# `cleangate notify relay [--loop]`: the notification outbox relay (docs/notifications.md)
main.add_command(notify_group)
# `cleangate board url --site ID [--rotate]`: the public board's address (docs/board.md)
main.add_command(board_cli)
# `cleangate regulator-sim` / `cleangate regulator …`: docs/regulator-adapters.md
main.add_command(regulator_group)
main.add_command(regulator_sim_command)
# `cleangate scheduler [--once|--list]`: the periodic jobs (docs/scheduler.md)
main.add_command(scheduler_command)


if __name__ == "__main__":
    main()
