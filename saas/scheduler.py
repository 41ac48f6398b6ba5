"""The periodic scheduler: ``cleangate scheduler`` (docs/scheduler.md).

A registry of periodic jobs, filled at ``init_app`` time by whoever owns the work (the
built-ins below; ``billing.init_app`` adds billing's, since ``saas`` never imports ``billing``),
and one process that enqueues each job's due runs to RQ. The workers execute them.

* **Slots.** A job runs ``every`` N seconds (slots aligned to the Unix epoch, so every
  scheduler computes the same ones), daily ``at`` (hour, minute) Beijing time, or on
  ``monthly_day`` at (hour, minute) Beijing time. Beijing is UTC+8 all year (no DST since
  1991), so a fixed offset is exact.
* **Once per slot.** Enqueueing a slot and recording it as the job's last slot
  (``scheduler:last:<name>``) is one Redis transaction under WATCH: a restarted scheduler, or
  two schedulers at once, never enqueue the same slot twice. The RQ job id is
  ``sched-<name>-<slot>``. A slot missed while no scheduler ran is run once when one comes back
  (only the latest slot, never a backlog) — except the first time a daily or monthly job is seen
  in this Redis, which starts from its next slot (a fresh deployment does not bill last month
  or sweep retention on its first start).
* **One active scheduler.** A lease (``scheduler:leader``, SET NX PX, renewed every tick); a
  second process waits as standby and takes over within the lease time if the leader dies, and
  a leader that finds its lease gone stops enqueueing at once. SIGTERM/SIGINT stop cleanly and
  release the lease.

A job function is ``fn(app, slot)`` with the slot as an aware UTC datetime (a late worker still
acts for the slot: yesterday's counts are the slot's yesterday). It runs in an app context,
with no tenant context: a job that touches tenant rows sweeps tenants itself, each in its own
``tenant_context`` (as the relays and billing runs do).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import FrameType
from typing import Any

import click
import redis
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq.job import Job

from saas import jobs
from saas.db import utcnow

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTENSION = "cleangate.scheduler"
RUN_FUNC = "saas.scheduler.run_periodic"
QUEUE = "default"
LEADER_KEY = "scheduler:leader"
LAST_KEY = "scheduler:last:"  # + job name: ISO UTC time of the last slot enqueued
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEFAULT_TIMEOUT = 15 * 60

Clock = Callable[[], datetime]
JobFunction = Callable[[Flask, datetime], Any]

# Compare-and-renew / compare-and-delete: only the holder's token may touch the lease.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


# --- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: exactly one of ``every`` or ``at`` (with ``monthly_day``: monthly)."""

    name: str
    fn: JobFunction
    every: timedelta | None = None
    at: tuple[int, int] | None = None
    monthly_day: int | None = None
    timeout: int = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"job name must be lower-case letters, digits and '-': {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"{self.name}: fn must be callable")
        if (self.every is None) == (self.at is None):
            raise ValueError(f"{self.name}: give exactly one of every= or at=")
        if self.every is not None:
            seconds = self.every.total_seconds()
            if self.monthly_day is not None:
                raise ValueError(f"{self.name}: monthly_day= goes with at=, not every=")
            if seconds < 1 or seconds != int(seconds):
                raise ValueError(f"{self.name}: every= must be whole seconds, at least 1")
        if self.at is not None:
            hour, minute = self.at
            if not (0 <= hour <= 23 and 0 <= minute <= 59):
                raise ValueError(f"{self.name}: at= must be (hour 0-23, minute 0-59)")
        if self.monthly_day is not None and not 1 <= self.monthly_day <= 28:
            raise ValueError(f"{self.name}: monthly_day must be 1-28 (a day every month has)")
        if self.timeout < 1:
            raise ValueError(f"{self.name}: timeout must be at least 1 second")

    @property
    def period(self) -> timedelta:
        """The (longest) gap between two slots."""
        if self.every is not None:
            return self.every
        return timedelta(days=31 if self.monthly_day is not None else 1)

    def latest_slot(self, now: datetime) -> datetime:
        """The last slot at or before ``now`` (aware UTC)."""
        now = _aware(now)
        if self.every is not None:
            step = int(self.every.total_seconds())
            elapsed = int((now - EPOCH).total_seconds())
            return EPOCH + timedelta(seconds=elapsed - elapsed % step)
        local = now.astimezone(BEIJING)
        if self.monthly_day is None:
            slot = self._local(local.date())
            if slot > now:
                slot = self._local(local.date() - timedelta(days=1))
            return slot
        slot = self._local(local.date().replace(day=self.monthly_day))
        if slot > now:
            slot = self._local(_add_months(local.date(), -1).replace(day=self.monthly_day))
        return slot

    def next_slot(self, now: datetime) -> datetime:
        """The first slot strictly after ``now``."""
        latest = self.latest_slot(now)
        if self.every is not None:
            return latest + self.every
        if self.monthly_day is None:
            return self._local(latest.astimezone(BEIJING).date() + timedelta(days=1))
        return self._local(_add_months(latest.astimezone(BEIJING).date(), 1))

    def _local(self, day: date) -> datetime:
        assert self.at is not None
        return datetime.combine(day, time(*self.at), tzinfo=BEIJING).astimezone(UTC)

    def describe(self) -> str:
        if self.every is not None:
            return f"every {_duration(self.every)}"
        assert self.at is not None
        clock = f"{self.at[0]:02d}:{self.at[1]:02d} Beijing"
        if self.monthly_day is None:
            return f"daily {clock}"
        return f"monthly, day {self.monthly_day} {clock}"

    def job_id(self, slot: datetime) -> str:
        return f"sched-{self.name}-{slot.astimezone(UTC):%Y%m%dT%H%M%S}Z"


class Registry:
    """The periodic jobs of one app, by name."""

    def __init__(self) -> None:
        self._jobs: dict[str, PeriodicJob] = {}

    def add(self, job: PeriodicJob) -> PeriodicJob:
        if job.name in self._jobs:
            raise ValueError(f"periodic job {job.name!r} is already registered")
        self._jobs[job.name] = job
        return job

    def get(self, name: str) -> PeriodicJob:
        try:
            return self._jobs[name]
        except KeyError:
            raise LookupError(f"no periodic job named {name!r}") from None

    def __iter__(self) -> Iterator[PeriodicJob]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)


def registry(app: Flask) -> Registry:
    """The app's registry, created with the built-in jobs on first use (so a package's
    ``init_app`` can register before or after anything else)."""
    found: Registry | None = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions[EXTENSION] = Registry()
        _register_builtins(found, app)
    return found


def register(
    app: Flask,
    name: str,
    *,
    fn: JobFunction,
    every: timedelta | None = None,
    at: tuple[int, int] | None = None,
    monthly_day: int | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> PeriodicJob:
    """Register ``fn(app, slot)`` to run ``every`` interval, daily ``at`` (hour, minute)
    Beijing time, or on ``monthly_day`` ``at`` (hour, minute) Beijing time."""
    job = PeriodicJob(name, fn, every=every, at=at, monthly_day=monthly_day, timeout=timeout)
    return registry(app).add(job)


# --- the built-in jobs --------------------------------------------------------------------------


def _register_builtins(jobs_: Registry, app: Flask) -> None:
    settings = app.config["CLEANGATE_SETTINGS"]
    builtins = [
        PeriodicJob("regulator-relay", _regulator_relay, every=timedelta(seconds=30)),
        PeriodicJob("notify-relay", _notify_relay, every=timedelta(seconds=30)),
        PeriodicJob("regulator-daily-counts", _regulator_daily_counts, at=(0, 10)),
        PeriodicJob("ledger-checkpoint", _ledger_checkpoint, every=timedelta(hours=1)),
        PeriodicJob("ledger-partitions", _ledger_partitions, at=(3, 0)),
        PeriodicJob("ledger-retention", _ledger_retention, at=(3, 30), timeout=3600),
        PeriodicJob("metrics", _metrics, every=timedelta(seconds=60), timeout=300),
    ]
    if settings.alert_feed.urls:
        every = timedelta(seconds=settings.alert_feed.interval_seconds)
        builtins.append(PeriodicJob("alert-feed-pull", _alert_feed_pull, every=every))
    for job in builtins:
        jobs_.add(job)


def _regulator_relay(app: Flask, slot: datetime) -> dict[str, int]:
    """Sweep every tenant's due regulator uploads (``cleangate regulator relay``): the safety
    net behind the per-tenant jobs triggered at ingest, and the retries on the embedded Redis."""
    from saas.regulator import relay

    return relay.relay_all(app).as_dict()


def _notify_relay(app: Flask, slot: datetime) -> dict[str, int]:
    """Deliver every tenant's due notifications (``cleangate notify relay``)."""
    from saas.notify import relay

    return relay.relay_all(app).as_dict()


def _alert_feed_pull(app: Flask, slot: datetime) -> dict[str, Any]:
    """``cleangate alerts pull``: its Redis lock keeps two pulls from overlapping."""
    from saas.policy import feed_pull

    return feed_pull.pull_for_app(app).as_dict()


def _regulator_daily_counts(app: Flask, slot: datetime) -> dict[str, Any]:
    """``cleangate regulator daily-counts`` for the Beijing day before the slot's."""
    from saas.regulator.cli import enqueue_daily_counts_all

    day = slot.astimezone(BEIJING).date() - timedelta(days=1)
    per_site = enqueue_daily_counts_all(app, day)
    return {"day": day.isoformat(), "sites": per_site, "queued": sum(per_site.values())}


def _ledger_checkpoint(app: Flask, slot: datetime) -> None:
    """``cleangate ledger checkpoint`` itself, so the two cannot drift."""
    from saas.ledger.cli import checkpoint

    _invoke(checkpoint)


def _ledger_partitions(app: Flask, slot: datetime) -> None:
    """``cleangate ledger partitions`` itself (three months ahead; nothing on SQLite)."""
    from saas.ledger.cli import ensure_partitions

    _invoke(ensure_partitions)


def _invoke(command: click.Command, **params: Any) -> None:
    """Run a CLI command's callback with its defaults (it prints its summary line)."""
    with click.Context(command, info_name=command.name) as ctx:
        ctx.invoke(command, **params)


def _metrics(app: Flask, slot: datetime) -> dict[str, float]:
    """CloudWatch metrics for the alarms (saas/metrics.py): EMF on stdout if METRICS_EMF."""
    from saas import metrics

    return metrics.run(app, slot)


def _ledger_retention(app: Flask, slot: datetime) -> dict[str, Any]:
    """``cleangate ledger retention`` as of the slot."""
    from saas.ledger import retention

    settings = app.config["CLEANGATE_SETTINGS"]
    report = retention.run(settings.migration_database_url, slot)
    return {
        "cutoff": report.cutoff.isoformat(),
        "dropped_partitions": report.dropped_partitions,
        "deleted_rows": report.deleted_rows,
    }


# --- what the worker runs -----------------------------------------------------------------------


def run_periodic(name: str, slot: str) -> Any:
    """The RQ job: the registered function of ``name`` for ``slot``, in the worker's app (whose
    registry the packages filled at ``init_app``, as in the scheduler)."""
    app = jobs.worker_app()
    job = registry(app).get(name)
    with app.app_context():
        return job.fn(app, datetime.fromisoformat(slot))


# --- the scheduler ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enqueued:
    name: str
    slot: datetime
    job_id: str


class Scheduler:
    """Enqueues due slots while it holds the lease. ``clock`` gives the time slots are computed
    from (tests pass a fixed one); the lease itself expires on Redis's clock."""

    def __init__(
        self,
        app: Flask,
        *,
        clock: Clock = utcnow,
        lease_seconds: float = 30.0,
        tick_seconds: float = 1.0,
        identity: str | None = None,
    ) -> None:
        if tick_seconds * 3 > lease_seconds:
            raise ValueError("the lease must last at least three ticks")
        self.app = app
        self.redis: redis.Redis = jobs.redis_connection(app)
        self.clock = clock
        self.lease_ms = int(lease_seconds * 1000)
        self.tick_seconds = tick_seconds
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._done: dict[str, datetime] = {}  # last slot known handled, saves a round trip

    # -- the lease

    def holder(self) -> str | None:
        raw = self.redis.get(LEADER_KEY)
        return raw.decode() if isinstance(raw, bytes) else raw

    def hold_lease(self) -> bool:
        """Renew the lease if we hold it, else try to take it. Logs every change of role."""
        if self.leader:
            if self._renew(keys=[LEADER_KEY], args=[self.identity, self.lease_ms]):
                return True
            self.leader = False
            log.warning("scheduler: lost the lease to %s; standing by", self.holder())
            return False
        taken = self.redis.set(LEADER_KEY, self.identity, nx=True, px=self.lease_ms)
        # (or ours already: an earlier SET whose answer a network error swallowed)
        if taken or self.holder() == self.identity:
            self.leader = True
            log.info("scheduler: %s is the active scheduler", self.identity)
        return self.leader

    def release(self) -> None:
        if self.leader:
            self._release(keys=[LEADER_KEY], args=[self.identity])
            self.leader = False

    # -- slots

    def tick(self) -> list[Enqueued]:
        """Enqueue every job's latest slot that is not enqueued yet. Safe to call from several
        processes at once (each slot is claimed in a WATCH transaction)."""
        now = _aware(self.clock())
        done = []
        for job in registry(self.app):
            slot = job.latest_slot(now)
            if self._done.get(job.name, EPOCH - timedelta(days=1)) >= slot:
                continue
            enqueued = self._claim(job, slot)
            self._done[job.name] = slot
            if enqueued is not None:
                done.append(enqueued)
        return done

    def _claim(self, job: PeriodicJob, slot: datetime) -> Enqueued | None:
        key = LAST_KEY + job.name
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                last = _parse(pipe.get(key))
                if last is not None and last >= slot:
                    return None  # enqueued before (a restart, or another scheduler)
                pipe.multi()
                pipe.set(key, slot.isoformat())
                if last is None and job.every is None:
                    pipe.execute()
                    log.info(
                        "scheduler: %s first seen; its first run is %s Beijing",
                        job.name,
                        _beijing(job.next_slot(slot)),
                    )
                    return None
                rq_job = self._enqueue(job, slot, pipe)
                pipe.execute()
            except redis.WatchError:
                return None  # another scheduler claimed this slot between WATCH and EXEC
        log.info(
            "scheduler: enqueued %s for %s Beijing (job %s)", job.name, _beijing(slot), rq_job.id
        )
        return Enqueued(job.name, slot, rq_job.id)

    def _enqueue(self, job: PeriodicJob, slot: datetime, pipe: Any) -> Job:
        period = int(job.period.total_seconds())
        interval = job.every is not None
        return jobs.queue(QUEUE, self.app).enqueue_call(
            RUN_FUNC,
            args=(job.name, slot.isoformat()),
            job_id=job.job_id(slot),
            timeout=job.timeout,
            # An interval run not started within two intervals is dropped: the next slot's
            # run does the same work, so a stalled worker pool does not build a backlog.
            ttl=max(2 * period, 60) if interval else None,
            result_ttl=min(max(2 * period, 600), 7 * 24 * 3600),
            failure_ttl=7 * 24 * 3600,
            retry=None if interval else jobs.default_retry(self.app),
            description=f"periodic {job.name} slot {slot.isoformat()}",
            pipeline=pipe,
        )

    def last_slot(self, name: str) -> datetime | None:
        return _parse(self.redis.get(LAST_KEY + name))

    def next_due(self, job: PeriodicJob, now: datetime) -> datetime:
        """When ``job`` is next enqueued: its latest slot if that is still to enqueue, else
        the slot after now."""
        last = self.last_slot(job.name)
        latest = job.latest_slot(now)
        if (last is None and job.every is not None) or (last is not None and latest > last):
            return latest
        return job.next_slot(now)

    # -- the loop

    def run(self, stop: threading.Event) -> None:
        """Standby or active until ``stop`` is set; then release the lease."""
        waiting = False
        failing = False
        try:
            while not stop.is_set():
                try:
                    if self.hold_lease():
                        waiting = False
                        self.tick()
                    elif not waiting:
                        waiting = True
                        log.info("scheduler: standby; the lease is held by %s", self.holder())
                    failing = False
                except (redis.RedisError, OSError) as exc:
                    if not failing:
                        log.error("scheduler: Redis error (%s); retrying", exc)
                    failing = True
                stop.wait(self.tick_seconds)
        finally:
            try:
                self.release()
            except (redis.RedisError, OSError):
                log.warning("scheduler: could not release the lease; it lapses by itself")
            log.info("scheduler: stopped")


# --- helpers ------------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the scheduler's clock must give aware datetimes")
    return moment.astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _parse(raw: object) -> datetime | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# --- `cleangate scheduler` ----------------------------------------------------------------------


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run one tick and exit (for cron).")
@click.option("--list", "list_jobs", is_flag=True, help="List the jobs and their next due time.")
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="How long the active scheduler's lease lasts; a standby takes over within it.",
)
@click.option(
    "--tick-seconds",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="How often the lease is renewed and due slots are looked for.",
)
@with_appcontext
def scheduler_command(
    once: bool, list_jobs: bool, lease_seconds: float, tick_seconds: float
) -> None:
    """Enqueue the periodic jobs to the workers (run exactly one; more wait as standby)."""
    if once and list_jobs:
        raise click.UsageError("--once and --list do not go together")
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        scheduler = Scheduler(app, lease_seconds=lease_seconds, tick_seconds=tick_seconds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tick-seconds") from None
    if list_jobs:
        _print_list(scheduler)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    embedded = jobs.uses_embedded_redis(app)
    if embedded:
        click.echo(
            "REDIS_URL is embedded:// — no other process sees this Redis, so the jobs run in a "
            "worker thread of this process. Set REDIS_URL to run them on `cleangate worker`.",
            err=True,
        )
    if once:
        _run_once(scheduler, embedded)
        return
    if embedded:
        jobs.start_embedded_worker(app, (QUEUE,))
    stop = threading.Event()

    def halt(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    log.info(
        "scheduler: %s starting (%d jobs, lease %g s)",
        scheduler.identity,
        len(registry(app)),
        lease_seconds,
    )
    scheduler.run(stop)


def _run_once(scheduler: Scheduler, embedded: bool) -> None:
    if not scheduler.hold_lease():
        click.echo(f"another scheduler is active ({scheduler.holder()}): nothing done")
        return
    try:
        enqueued = scheduler.tick()
    finally:
        scheduler.release()
    for item in enqueued:
        click.echo(f"enqueued {item.name} {_beijing(item.slot)} Beijing {item.job_id}")
    if not enqueued:
        click.echo("nothing due")
    if embedded and enqueued:
        jobs.start_embedded_worker(scheduler.app, (QUEUE,), burst=True).join()


def _print_list(scheduler: Scheduler) -> None:
    now = _aware(scheduler.clock())
    rows = [("job", "schedule", "next due (Beijing)", "last slot (Beijing)")]
    for job in sorted(registry(scheduler.app), key=lambda j: j.name):
        last = scheduler.last_slot(job.name)
        rows.append(
            (
                job.name,
                job.describe(),
                _beijing(scheduler.next_due(job, now)),
                _beijing(last) if last else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
    holder = scheduler.holder()
    click.echo(f"active scheduler: {holder}" if holder else "active scheduler: none")
