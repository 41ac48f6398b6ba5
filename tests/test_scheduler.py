"""The periodic scheduler (saas/scheduler.py, docs/scheduler.md): slots in Beijing time, one
enqueue per slot however many ticks or schedulers, the lease with standby takeover (a real
``cleangate scheduler`` process killed with SIGKILL), a clean SIGTERM, and billing's jobs
registered through the registry. Redis tests run on the embedded substitute and on the real
server (skipped without it, a failure with CLEANGATE_REQUIRE_SERVICES=1); the process tests
need the real one."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from saas import jobs, migrate
from saas import scheduler as sched
from saas.app import create_app
from saas.scheduler import PeriodicJob, Scheduler
from saas.settings import EMBEDDED_REDIS, Settings
from tests import services
from tests.conftest import make_tenant

CLEANGATE = Path(sys.executable).with_name("cleangate")
INTERVAL_JOBS = {"regulator-relay", "notify-relay", "ledger-checkpoint", "metrics"}
CALENDAR_JOBS = {
    "regulator-daily-counts",
    "ledger-partitions",
    "ledger-retention",
    "billing-dunning",
    "billing-monthly",
}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def beijing(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=sched.BEIJING).astimezone(UTC)


def noop(app: Flask, slot: datetime) -> None:
    return None


class Clock:
    """A settable clock for the scheduler."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- slots: every / daily at / monthly, Beijing time --------------------------------------------


def test_interval_slots_align_to_the_epoch() -> None:
    job = PeriodicJob("x", noop, every=timedelta(seconds=30))
    assert job.latest_slot(utc(2025, 1, 1, 12, 0, 29, 999999)) == utc(2025, 1, 1, 12, 0, 0)
    assert job.latest_slot(utc(2025, 1, 1, 12, 0, 30)) == utc(2025, 1, 1, 12, 0, 30)
    assert job.next_slot(utc(2025, 1, 1, 12, 0, 30)) == utc(2025, 1, 1, 12, 1, 0)
    hourly = PeriodicJob("h", noop, every=timedelta(hours=1))
    assert hourly.latest_slot(utc(2025, 1, 1, 12, 59, 59)) == utc(2025, 1, 1, 12)
    # Any offset of the caller's clock gives the same slot (it is one instant).
    assert job.latest_slot(beijing(2025, 1, 1, 20, 0, 45)) == utc(2025, 1, 1, 12, 0, 30)


def test_daily_slot_is_beijing_time_not_utc() -> None:
    job = PeriodicJob("counts", noop, at=(0, 10))
    # 16:09:59 UTC is 00:09:59 on 2 January in Beijing: the last run was 1 January 00:10.
    assert job.latest_slot(utc(2025, 1, 1, 16, 9, 59)) == utc(2024, 12, 31, 16, 10)
    assert job.latest_slot(utc(2025, 1, 1, 16, 10)) == utc(2025, 1, 1, 16, 10)
    assert job.latest_slot(utc(2025, 1, 1, 16, 10)) == beijing(2025, 1, 2, 0, 10)
    assert job.next_slot(utc(2025, 1, 1, 16, 10)) == beijing(2025, 1, 3, 0, 10)
    # Mid-morning UTC is already the afternoon in Beijing: same Beijing day.
    assert job.latest_slot(utc(2025, 6, 30, 8)) == beijing(2025, 6, 30, 0, 10)


def test_daily_slots_are_24_hours_apart_all_year_no_dst() -> None:
    """Asia/Shanghai has no DST: every daily slot is 16:10 UTC, across the dates on which
    other zones (Europe, US) move their clocks and across a leap day."""
    job = PeriodicJob("counts", noop, at=(0, 10))
    slot = job.latest_slot(utc(2024, 1, 1))
    for _ in range(800):
        following = job.next_slot(slot)
        assert following - slot == timedelta(days=1)
        assert (following.hour, following.minute) == (16, 10)
        slot = following
    assert job.describe() == "daily 00:10 Beijing"


def test_monthly_slot_on_the_first_at_two_beijing() -> None:
    job = PeriodicJob("month", noop, monthly_day=1, at=(2, 0))
    # 1 March 02:00 Beijing is 28 February 18:00 UTC (2025 is not a leap year).
    assert job.latest_slot(utc(2025, 2, 28, 17, 59, 59)) == beijing(2025, 2, 1, 2)
    assert job.latest_slot(utc(2025, 2, 28, 18)) == utc(2025, 2, 28, 18)
    assert job.latest_slot(utc(2024, 2, 29, 18)) == beijing(2024, 3, 1, 2)  # leap day
    assert job.next_slot(beijing(2024, 12, 15)) == beijing(2025, 1, 1, 2)  # over the year
    assert job.latest_slot(beijing(2025, 1, 1, 1, 59)) == beijing(2024, 12, 1, 2)
    assert job.describe() == "monthly, day 1 02:00 Beijing"
    assert job.job_id(beijing(2025, 3, 1, 2)) == "sched-month-20250228T180000Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": timedelta(seconds=30), "at": (1, 0)}, "exactly one"),
        ({}, "exactly one"),
        ({"every": timedelta(seconds=1.5)}, "whole seconds"),
        ({"every": timedelta(0)}, "whole seconds"),
        ({"at": (24, 0)}, "hour 0-23"),
        ({"at": (2, 0), "monthly_day": 31}, "1-28"),
        ({"every": timedelta(hours=1), "monthly_day": 1}, "goes with at="),
    ],
)
def test_bad_schedules_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PeriodicJob("x", noop, **kwargs)


def test_bad_names_and_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        PeriodicJob("Bad Name", noop, every=timedelta(seconds=5))
    registry = sched.Registry()
    registry.add(PeriodicJob("x", noop, every=timedelta(seconds=5)))
    with pytest.raises(ValueError, match="already registered"):
        registry.add(PeriodicJob("x", noop, at=(1, 0)))
    with pytest.raises(LookupError, match="no periodic job named 'y'"):
        registry.get("y")


# --- an app per Redis (its own SQLite database, so jobs run on data of their own) ---------------


def _app(tmp: Path, redis_url: str, **env: str) -> Flask:
    url = f"sqlite:///{tmp / 'sched.db'}"
    migrate.upgrade(url)
    settings = Settings.from_env(
        {"CLEANGATE_VAR_DIR": str(tmp), "DATABASE_URL": url, "REDIS_URL": redis_url, **env},
        testing=True,
    )
    return create_app(settings)


@pytest.fixture(scope="module", params=["embedded", "real"])
def sched_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    if request.param == "real":
        services.real_redis()  # skips, or fails under CLEANGATE_REQUIRE_SERVICES=1
    url = services.REDIS_URL if request.param == "real" else EMBEDDED_REDIS
    return _app(tmp_path_factory.mktemp(f"sched-{request.param}"), url)


def _clean(connection: redis.Redis) -> None:
    """Our keys only: other tests share the Redis database and the default queue."""
    for pattern in ("scheduler:*", "rq:job:sched-*", "rq:results:sched-*"):
        for key in connection.scan_iter(pattern):
            connection.delete(key)
    for registry in ("finished", "failed", "started"):
        key = f"rq:{registry}:{sched.QUEUE}"
        ours = [m for m in connection.zrange(key, 0, -1) if m.startswith(b"sched-")]
        if ours:
            connection.zrem(key, *ours)
    Queue(sched.QUEUE, connection=connection).empty()


@pytest.fixture
def app(sched_app: Flask) -> Iterator[Flask]:
    _clean(jobs.redis_connection(sched_app))
    yield sched_app
    _clean(jobs.redis_connection(sched_app))


def queued_ids(app: Flask) -> list[str]:
    return list(jobs.queue(sched.QUEUE, app).job_ids)


# --- once per slot ------------------------------------------------------------------------------


def test_first_tick_runs_interval_jobs_and_starts_calendar_jobs_at_their_next_slot(
    app: Flask,
) -> None:
    clock = Clock(beijing(2025, 3, 10, 12, 0, 5))
    done = Scheduler(app, clock=clock).tick()
    assert {e.name for e in done} == INTERVAL_JOBS  # nothing billed or swept on a first start
    assert sorted(queued_ids(app)) == sorted(
        [
            "sched-regulator-relay-20250310T040000Z",
            "sched-notify-relay-20250310T040000Z",
            "sched-ledger-checkpoint-20250310T040000Z",
            "sched-metrics-20250310T040000Z",
        ]
    )
    job = Job.fetch("sched-regulator-relay-20250310T040000Z", connection=jobs.redis_connection(app))
    assert job.func_name == sched.RUN_FUNC
    assert job.args == ("regulator-relay", "2025-03-10T04:00:00+00:00")


def test_two_ticks_in_one_slot_enqueue_once_and_a_restart_does_not_repeat(app: Flask) -> None:
    clock = Clock(beijing(2025, 3, 10, 12, 0, 1))
    first = Scheduler(app, clock=clock)
    assert len(first.tick()) == len(INTERVAL_JOBS)
    clock.now += timedelta(seconds=28)  # 12:00:29, same 30 s slot
    assert first.tick() == []
    assert Scheduler(app, clock=clock).tick() == []  # a restarted scheduler: Redis remembers
    assert len(queued_ids(app)) == len(INTERVAL_JOBS)
    clock.now += timedelta(seconds=1)  # 12:00:30: the relays' next slot
    assert {e.name for e in first.tick()} == {"regulator-relay", "notify-relay"}
    assert len(queued_ids(app)) == len(INTERVAL_JOBS) + 2


def test_calendar_jobs_run_at_their_beijing_time_and_catch_up_once(app: Flask) -> None:
    clock = Clock(beijing(2025, 3, 10, 12))
    scheduler = Scheduler(app, clock=clock)
    scheduler.tick()  # first seen: baseline
    clock.now = beijing(2025, 3, 11, 0, 9, 59)
    assert "regulator-daily-counts" not in {e.name for e in scheduler.tick()}
    clock.now = beijing(2025, 3, 11, 0, 10)
    assert [e for e in scheduler.tick() if e.name == "regulator-daily-counts"] == [
        sched.Enqueued(
            "regulator-daily-counts",
            utc(2025, 3, 10, 16, 10),
            "sched-regulator-daily-counts-20250310T161000Z",
        )
    ]
    # Down for three days and back at 05:00: the latest slot of each job once, no backlog.
    clock.now = beijing(2025, 3, 14, 5)
    after_outage = Scheduler(app, clock=clock).tick()
    calendar = Counter(e.name for e in after_outage if e.name in CALENDAR_JOBS)
    assert calendar == {
        "regulator-daily-counts": 1,
        "ledger-partitions": 1,
        "ledger-retention": 1,
        "billing-dunning": 1,  # 13 March 09:00, missed
    }
    slots = {e.name: e.slot for e in after_outage}
    assert slots["regulator-daily-counts"] == beijing(2025, 3, 14, 0, 10)
    assert slots["billing-dunning"] == beijing(2025, 3, 13, 9)
    # billing-monthly's next slot is 1 April 02:00.
    clock.now = beijing(2025, 4, 1, 1, 59)
    assert "billing-monthly" not in {e.name for e in scheduler.tick()}
    clock.now = beijing(2025, 4, 1, 9, 0)
    names = {e.name for e in scheduler.tick()}
    assert {"billing-dunning", "billing-monthly"} <= names


def test_two_schedulers_at_once_enqueue_each_slot_once(app: Flask) -> None:
    """Two schedulers (as if both believed they held the lease) tick the same instants in
    parallel threads: every slot is enqueued by exactly one of them."""
    clock = Clock(beijing(2025, 3, 10, 12, 0, 1))
    pair = [Scheduler(app, clock=clock), Scheduler(app, clock=clock)]
    gate = threading.Barrier(2)
    results: list[list[sched.Enqueued]] = [[], []]

    def run(index: int) -> None:
        for _ in range(20):
            gate.wait()
            results[index].extend(pair[index].tick())
            gate.wait()
            if index == 0:
                clock.now += timedelta(seconds=30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [e.job_id for side in results for e in side]
    assert len(ids) == len(set(ids))
    assert Counter(e.name for side in results for e in side) == {
        "regulator-relay": 20,
        "notify-relay": 20,
        "ledger-checkpoint": 1,  # 20 ticks 30 s apart stay inside one hour
        "metrics": 10,  # every 60 s: every other tick
    }
    assert sorted(queued_ids(app)) == sorted(ids)


def test_a_slot_claimed_between_watch_and_exec_is_not_enqueued_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact interleaving: A has read the job's last slot under WATCH; B claims the slot;
    A's transaction must then fail rather than enqueue a second time."""
    clock = Clock(beijing(2025, 3, 10, 12, 0, 1))
    a, b = Scheduler(app, clock=clock), Scheduler(app, clock=clock)
    real_parse = sched._parse
    b_done: list[sched.Enqueued] = []

    def parse_then_let_b_in(raw: object) -> datetime | None:
        value = real_parse(raw)
        if not b_done:
            monkeypatch.setattr(sched, "_parse", real_parse)
            b_done.extend(b.tick())
        return value

    monkeypatch.setattr(sched, "_parse", parse_then_let_b_in)
    a_done = a.tick()
    assert {e.name for e in b_done} == INTERVAL_JOBS
    assert "regulator-relay" not in {e.name for e in a_done}  # A lost the race on B's slot
    assert len(queued_ids(app)) == len(INTERVAL_JOBS)


# --- the lease ----------------------------------------------------------------------------------


def test_one_leader_at_a_time_and_release_hands_over(app: Flask) -> None:
    a = Scheduler(app, identity="a", lease_seconds=30)
    b = Scheduler(app, identity="b", lease_seconds=30)
    assert a.hold_lease()
    assert not b.hold_lease()
    assert a.hold_lease()  # renewed
    assert b.holder() == "a"
    assert 0 < jobs.redis_connection(app).pttl(sched.LEADER_KEY) <= 30_000
    b.release()  # not the holder: nothing happens
    assert a.holder() == "a"
    a.release()
    assert a.holder() is None
    assert b.hold_lease()


def test_a_lapsed_lease_goes_to_the_standby_and_the_old_leader_steps_down(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    a = Scheduler(app, identity="a", lease_seconds=0.3, tick_seconds=0.05)
    b = Scheduler(app, identity="b", lease_seconds=0.3, tick_seconds=0.05)
    assert a.hold_lease()
    assert not b.hold_lease()
    time.sleep(0.5)  # a paused past its lease
    assert b.hold_lease()
    with caplog.at_level(logging.WARNING, logger="saas.scheduler"):
        assert not a.hold_lease()
    assert not a.leader
    assert "lost the lease to b" in caplog.text
    assert b.holder() == "b"


def test_the_lease_must_outlast_three_ticks(app: Flask) -> None:
    with pytest.raises(ValueError, match="three ticks"):
        Scheduler(app, lease_seconds=2, tick_seconds=1)


def test_run_loop_enqueues_while_leader_and_releases_on_stop(app: Flask) -> None:
    clock = Clock(beijing(2025, 3, 10, 12, 0, 1))
    scheduler = Scheduler(app, clock=clock, identity="loop", lease_seconds=5, tick_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        _until(lambda: len(queued_ids(app)) == len(INTERVAL_JOBS), 10)
        assert scheduler.holder() == "loop"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert scheduler.holder() is None


# --- the worker side ----------------------------------------------------------------------------


def test_workers_run_the_registered_jobs_billing_included(app: Flask) -> None:
    """Every job due on 1 February 2020 10:00 Beijing — the relays, checkpoint, daily counts,
    partitions, retention, and billing's dunning and month close — goes through RQ and runs
    in the worker with the registry its app was built with."""
    make_tenant(app, "sched")
    clock = Clock(beijing(2020, 1, 31, 12))
    scheduler = Scheduler(app, clock=clock)
    scheduler.tick()
    jobs.queue(sched.QUEUE, app).empty()
    clock.now = beijing(2020, 2, 1, 10)
    due = {e.name: e.job_id for e in scheduler.tick()}
    assert set(due) == INTERVAL_JOBS | CALENDAR_JOBS
    connection = jobs.redis_connection(app)
    with app.app_context():
        SimpleWorker([jobs.queue(sched.QUEUE, app)], connection=connection).work(burst=True)
    fetched = {name: Job.fetch(job_id, connection=connection) for name, job_id in due.items()}
    failed = {n: _error(j) for n, j in fetched.items() if not j.is_finished}
    assert not failed
    assert fetched["billing-monthly"].return_value() == {
        "period": "2020-01",
        "metered": 1,
        "invoices": {},
    }
    assert (fetched["billing-dunning"].return_value() or {})["failed_tenants"] == []
    assert (fetched["regulator-daily-counts"].return_value() or {})["day"] == "2020-01-31"


def _error(job: Job) -> str:
    result = job.latest_result()
    return (result.exc_string if result else None) or ""


def test_a_job_name_the_worker_does_not_know_fails_the_job(app: Flask) -> None:
    queue = jobs.queue(sched.QUEUE, app)
    job = queue.enqueue_call(
        sched.RUN_FUNC,
        args=("no-such-job", "2025-01-01T00:00:00+00:00"),
        job_id="sched-no-such-job-test",
    )
    with app.app_context():
        SimpleWorker([queue], connection=jobs.redis_connection(app)).work(burst=True)
    assert job.get_status(refresh=True) == "failed"
    assert "no periodic job named 'no-such-job'" in _error(job)


# --- `cleangate scheduler --list / --once` ------------------------------------------------------


def test_list_shows_billing_jobs_with_their_next_beijing_time(app: Flask) -> None:
    result = app.test_cli_runner().invoke(sched.scheduler_command, ["--list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:-1]}
    assert set(lines) == INTERVAL_JOBS | CALENDAR_JOBS
    assert re.search(
        r"daily 09:00 Beijing\s+\d{4}-\d\d-\d\d 09:00:00\s+-$", lines["billing-dunning"]
    )
    assert re.search(
        r"monthly, day 1 02:00 Beijing\s+\d{4}-\d\d-01 02:00:00", lines["billing-monthly"]
    )
    assert result.output.splitlines()[-1] == "active scheduler: none"


def test_alert_feed_pull_is_registered_only_when_feeds_are_configured(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        EMBEDDED_REDIS,
        ALERT_FEED_URLS="https://feed.example/api",
        ALERT_FEED_INTERVAL_SECONDS="120",
    )
    job = sched.registry(app).get("alert-feed-pull")
    assert job.every == timedelta(seconds=120)


def test_once_enqueues_one_tick_or_defers_to_the_active_scheduler(app: Flask) -> None:
    connection = jobs.redis_connection(app)
    connection.set(sched.LEADER_KEY, "elsewhere:1", px=10_000)
    result = app.test_cli_runner().invoke(sched.scheduler_command, ["--once"])
    assert result.exit_code == 0, result.output
    assert "another scheduler is active (elsewhere:1): nothing done" in result.output
    assert queued_ids(app) == []
    connection.delete(sched.LEADER_KEY)
    result = app.test_cli_runner().invoke(sched.scheduler_command, ["--once"])
    assert result.exit_code == 0, result.output
    assert {
        line.split()[1] for line in result.output.splitlines() if line.startswith("enqueued")
    } >= {
        "regulator-relay",
        "notify-relay",
    }
    assert connection.get(sched.LEADER_KEY) is None  # released after the tick


# --- real processes: SIGKILL takeover, SIGTERM ---------------------------------------------------


def _until(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


class Process:
    def __init__(self, tmp: Path, name: str, lease: float, tick: float = 0.2) -> None:
        self.log = tmp / f"{name}.log"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "CLEANGATE_VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp / 'proc.db'}",
            "REDIS_URL": services.REDIS_URL,
        }
        command = [str(CLEANGATE), "scheduler", "--lease-seconds", str(lease),
                   "--tick-seconds", str(tick)]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def leads(self, connection: redis.Redis) -> bool:
        holder = connection.get(sched.LEADER_KEY)
        return isinstance(holder, bytes) and f":{self.proc.pid}:" in holder.decode()

    def enqueued(self) -> list[tuple[str, str]]:
        return re.findall(r"enqueued (\S+) for (.+?) Beijing", self.output)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def real_redis() -> Iterator[redis.Redis]:
    connection: redis.Redis = services.real_redis()
    _clean(connection)
    yield connection
    _clean(connection)


@pytest.mark.timeout(120)
def test_sigkill_the_leader_and_the_standby_takes_over_within_the_lease(
    real_redis: redis.Redis, tmp_path: Path
) -> None:
    lease = 3.0
    first = Process(tmp_path, "first", lease)
    second: Process | None = None
    try:
        _until(lambda: first.leads(real_redis), 60)
        second = Process(tmp_path, "second", lease)
        _until(lambda: "standby; the lease is held by" in second.output, 60)
        assert not second.leads(real_redis)
        _until(lambda: bool(first.enqueued()), 30)
        first.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.proc.wait(timeout=10)
        _until(lambda: second.leads(real_redis), lease + 10)
        took = time.monotonic() - killed
        assert 2.0 <= took <= lease + 2.0  # waited for the lease to lapse, then took over
        assert "is the active scheduler" in second.output
        # The next relay slot comes within 30 s: the new leader enqueues it, and no slot the
        # dead one enqueued is enqueued again.
        _until(lambda: bool(second.enqueued()), 40)
        both = first.enqueued() + second.enqueued()
        assert len(both) == len(set(both)), both
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert first.proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(120)
def test_sigterm_stops_cleanly_and_releases_the_lease_at_once(
    real_redis: redis.Redis, tmp_path: Path
) -> None:
    """A 60 s lease: the standby can only take over at once if the leader released it."""
    leader = Process(tmp_path, "leader", 60)
    standby: Process | None = None
    try:
        _until(lambda: leader.leads(real_redis), 60)
        standby = Process(tmp_path, "standby", 60)
        _until(lambda: "standby; the lease is held by" in standby.output, 60)
        leader.proc.send_signal(signal.SIGTERM)
        assert leader.proc.wait(timeout=20) == 0
        assert "scheduler: stopped" in leader.output
        _until(lambda: standby.leads(real_redis), 5)
        standby.proc.send_signal(signal.SIGTERM)
        assert standby.proc.wait(timeout=20) == 0
        assert real_redis.get(sched.LEADER_KEY) is None
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()


def test_the_cleangate_command_lists_billing_jobs(tmp_path: Path) -> None:
    """The registration in saas/cli.py, through the installed entry point."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CLEANGATE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'list.db'}",
    }
    result = subprocess.run(
        [str(CLEANGATE), "scheduler", "--list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^billing-dunning\s+daily 09:00 Beijing", result.stdout, re.MULTILINE)
    assert re.search(r"^billing-monthly\s+monthly, day 1 02:00 Beijing", result.stdout, re.M)
