"""`cleangate worker`: work the RQ queues of the app's Redis."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker, Worker

from saas import jobs


@click.command("worker", help="Run an RQ worker on the app's Redis (REDIS_URL).")
@click.option(
    "--queues",
    default=",".join(jobs.QUEUE_NAMES),
    show_default=True,
    help="Comma-separated queue names, in priority order.",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--simple",
    is_flag=True,
    help="Run jobs in this process instead of a forked child per job (faster, less isolated).",
)
@with_appcontext
def worker_command(queues: str, burst: bool, simple: bool) -> None:
    """The app is built once here and inherited by every job (a forked child per job by
    default: a crash or leak in one export cannot take the worker down; §4.4 puts the fork at
    ~6 ms, nothing next to an export). Delayed retries need RQ's scheduler, so it runs along."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if jobs.uses_embedded_redis(app):
        click.echo(
            "REDIS_URL is embedded:// — that Redis lives inside the web process, so a separate "
            "worker cannot see its jobs; they run in a worker thread of that process "
            "(saas.jobs.start_embedded_worker). Set REDIS_URL to a Redis server to run "
            "workers as processes.",
            err=True,
        )
        sys.exit(2)
    names = [n.strip() for n in queues.split(",") if n.strip()]
    unknown = sorted(set(names) - set(jobs.QUEUE_NAMES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {unknown}", param_hint="--queues")
    jobs.bind_worker_app(app)
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class(
        [jobs.queue(n, app) for n in names], connection=jobs.redis_connection(app)
    )
    worker.work(burst=burst, with_scheduler=not burst)
