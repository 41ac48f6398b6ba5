"""``cleangate demo``: the whole system in one terminal, with a small command console.

Commands typed while it runs (docs/demo.md)::

    alert [orange|yellow|red]   heavy-pollution alert for 唐山市 (the demo city), in force now
    end                         end the alerts this demo raised
    kill coking|steel           SIGKILL that site's edge bridge (the gate is dark)
    start coking|steel          start it again (it sends what it held)
    receiver down|up            the regulator's platform stops / resumes answering
    status                      passages answered, in the ledger, at the receiver
    quit                        stop everything (as Ctrl-C does)
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

HELP = __doc__.split("::", 1)[1].rstrip() if __doc__ else ""
LEVELS = {"orange": "橙色", "yellow": "黄色", "red": "红色"}


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="web (portal, console)")
@click.option("--hub-port", default=8765, show_default=True, type=int)
@click.option("--receiver-port", default=8766, show_default=True, type=int)
@click.option(
    "--rate", default=0.5, show_default=True, type=float, help="trucks per second per site"
)
@click.option("--seed", type=int, default=None, help="fixed random seed for the traffic")
@click.option("--duration", type=float, default=None, help="stop after this many seconds")
@click.option("--no-serve", is_flag=True, help="migrate and seed only, then exit")
def demo_command(
    host: str,
    port: int,
    hub_port: int,
    receiver_port: int,
    rate: float,
    seed: int | None,
    duration: float | None,
    no_serve: bool,
) -> None:
    """The whole system on the embedded defaults: web, hub, worker, scheduler, the regulator's
    reference receiver and a simulated plant of two sites with truck traffic."""
    from cleangate_demo import seed as demo_seed
    from cleangate_demo.plant import Plant
    from saas import migrate
    from saas.app import create_app
    from saas.settings import Settings

    if rate <= 0:
        raise click.BadParameter("must be above 0", param_hint="--rate")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    settings = Settings.from_env()
    if settings.production:
        raise click.UsageError(
            "cleangate demo refuses CLEANGATE_ENV=production: it creates a provider administrator"
            " and a demo tenant and prints their passwords"
        )
    if no_serve:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(settings.migration_database_url, settings.database_url)
        seeded = demo_seed.seed(
            create_app(settings), settings.var_dir / "demo", f"http://{host}:{receiver_port}"
        )
        _print_logins(seeded.logins)
        return
    plant = Plant(
        settings,
        host=host,
        web_port=port,
        hub_port=hub_port,
        receiver_port=receiver_port,
        rate=rate,
        seed=seed,
        say=lambda line: click.echo(line, err=True),
    )
    stop = threading.Event()

    def halt(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt

    # Explicit for SIGINT too: a shell that starts us in the background ignores it, and
    # Python then never turns Ctrl-C into KeyboardInterrupt.
    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    try:
        plant.start()
        _print_urls(plant)
        if duration is not None:
            stop.wait(duration)
        else:
            _console(plant, stop)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C or SIGTERM while stopping: leave now, but take the bridges along
        # (they run in sessions of their own, so nothing else would stop them).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        click.echo("\n正在停止 / stopping …", err=True)
        try:
            plant.stop()
        except KeyboardInterrupt:  # a second Ctrl-C: leave now, but take the bridges along
            plant.kill_bridges()
            sys.exit(130)
        click.echo("已停止 / stopped.", err=True)


def _print_logins(logins: dict[str, dict[str, str]]) -> None:
    for name, label in (("portal", "enterprise portal"), ("console", "provider console")):
        entry = logins.get(name)
        if entry:
            click.echo(f"  {label:<18} user {entry['username']}  password {entry['password']}")


def _print_urls(plant: Any) -> None:
    urls = plant.urls()
    logins = plant.seeded.logins
    click.echo("")
    click.echo("CleanGate 环保门禁云 demo — running")
    click.echo(
        f"  企业门户 portal      {urls['portal']}   user {logins['portal']['username']}"
        f"  password {logins['portal']['password']}"
    )
    click.echo(
        f"  运营后台 console     {urls['console']}   user {logins['console']['username']}"
        f"  password {logins['console']['password']}"
    )
    for name, url in urls["boards"].items():
        click.echo(f"  公示大屏 board       {url}   ({name})")
    for name, url in urls["guards"].items():
        click.echo(
            f"  门岗值守 guard       {url}   ({name}; user {logins['guard']['username']}"
            f"  password {logins['guard']['password']})"
        )
    click.echo(f"  监管平台 receiver    {urls['receiver']}")
    click.echo(f"  API                  {urls['api']}")
    click.echo("")
    click.echo("Type a command and Enter (help lists them); Ctrl-C to stop.")
    click.echo("  alert orange   — 唐山市橙色预警: watch the boards and the verdicts change")


def _console(plant: Any, stop: threading.Event) -> None:
    """Read commands until ``quit``; at end of input (not a terminal) just keep running."""
    while not stop.is_set():
        line = sys.stdin.readline()
        if not line:
            stop.wait()  # stdin closed: run until Ctrl-C / SIGTERM
            return
        words = line.split()
        if not words:
            continue
        try:
            if _command(plant, words):
                return
        except (KeyError, ValueError, RuntimeError, TimeoutError) as exc:
            click.echo(f"  ✗ {exc}")


def _command(plant: Any, words: list[str]) -> bool:
    """Run one command; True to quit."""
    name, args = words[0].lower(), [w.lower() for w in words[1:]]
    if name in ("quit", "exit", "q"):
        return True
    if name == "help":
        click.echo(HELP)
    elif name == "alert":
        level = args[0] if args else "orange"
        if level not in LEVELS:
            raise ValueError(f"alert: level must be orange, yellow or red, not {level!r}")
        plant.raise_alert(level)
        click.echo(
            f"  ✓ 唐山市{LEVELS[level]}预警已发布 — the boards and gates switch within seconds"
        )
    elif name == "end":
        click.echo(f"  ✓ {plant.end_alerts()} 个预警已解除 / alerts ended")
    elif name in ("kill", "start"):
        site = _site(plant, args)
        if name == "kill":
            plant.kill_edge(site)
            click.echo(f"  ✓ {site}: edge bridge killed (SIGKILL); trucks wait at the gate")
        else:
            plant.restart_edge(site)
            click.echo(f"  ✓ {site}: edge bridge started; it sends what it held")
    elif name == "receiver":
        if args not in (["down"], ["up"]):
            raise ValueError("receiver: say 'receiver down' or 'receiver up'")
        plant.receiver_down(args[0] == "down")
        click.echo(f"  ✓ receiver {args[0]}")
    elif name == "status":
        status = plant.status()
        for site, row in status["sites"].items():
            click.echo(
                f"  {site:<7} edge {row['edge']:<8} online {row['online']!s:<5} "
                f"answered {row['answered']:>5}  ledger {row['ledger']:>5}  {row['verdicts']}"
            )
        receiver = status["receiver"]
        click.echo(
            f"  receiver {'down' if receiver['down'] else 'up'}: "
            f"{receiver['passages_accepted']} passages accepted"
        )
    else:
        raise ValueError(f"unknown command {name!r}; type help")
    return False


def _site(plant: Any, args: list[str]) -> str:
    if len(args) != 1 or args[0] not in plant.sites:
        raise ValueError(f"name a site: {', '.join(plant.sites)}")
    return args[0]
