"""Scheduled pull of the regulator's heavy-pollution control measures (findControlMeasuresInfo,
domain.md §1.8) into alerts (docs/alerts.md, "Console").

Each configured URL (``ALERT_FEED_URLS``) is fetched with one token header
(``ALERT_FEED_TOKEN_HEADER: ALERT_FEED_TOKEN``; the regulator API's authentication is not
documented, so this is our assumption) and its answer imported by
``saas.policy.alerts.import_feed`` in one transaction per URL; covered sites are notified after
COMMIT. A network error, a timeout, a non-200 answer, a body that is not JSON or a record that
does not validate imports nothing from that URL; the error is recorded and the next run tries
again (the import is idempotent on the feed's id). The outcome of the last run is kept in Redis
(:data:`STATUS_KEY`) for the console and logged. URLs are shown without user info or query
string, and the token never leaves the request header.

``cleangate scheduler`` enqueues a pull every ``ALERT_FEED_INTERVAL_SECONDS`` when feeds are
configured (``saas.scheduler``); ``cleangate alerts pull [--loop]`` runs it by hand or from cron.
Two pulls never overlap (a Redis lock).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import click
import redis
import requests
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from saas.db import get_database, utcnow
from saas.ledger.chain import iso
from saas.policy import alerts
from saas.settings import EMBEDDED_REDIS, AlertFeedSettings

log = logging.getLogger(__name__)

STATUS_KEY = "alerts:feed_pull:status"
LOCK_KEY = "alerts:feed_pull:lock"
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_LISTED = 20  # unmatched numbers and record errors kept per source
ACTOR = "regulator feed (scheduled pull)"


class FeedFetchError(Exception):
    """The feed could not be read or imported; the message is safe to show and log."""


@dataclass
class SourceOutcome:
    source: str  # the URL without user info, query string or fragment
    ok: bool = False
    error: str | None = None
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: list[str] = field(default_factory=list)
    record_errors: list[dict[str, str]] = field(default_factory=list)
    notified_sites: int = 0
    last_success_at: str | None = None


@dataclass
class PullOutcome:
    started_at: str
    finished_at: str = ""
    ok: bool = False
    skipped: bool = False  # another pull held the lock
    error: str | None = None
    sources: list[SourceOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def redact(url: str) -> str:
    """``https://host:port/path`` — no credentials, query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def fetch(http: requests.Session, url: str, feed: AlertFeedSettings) -> Any:
    """GET one feed URL → its decoded JSON. Raises :class:`FeedFetchError` with a message that
    names neither the token nor the query string."""
    headers = {"Accept": "application/json"}
    if feed.token:
        headers[feed.token_header] = feed.token
    try:
        with http.get(
            url,
            headers=headers,
            timeout=feed.timeout_seconds,
            stream=True,
            allow_redirects=False,  # a redirect elsewhere would carry the token along
        ) as response:
            if response.status_code != 200:
                raise FeedFetchError(f"HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise FeedFetchError(f"answer larger than {MAX_BODY_BYTES} bytes")
    except requests.Timeout:
        raise FeedFetchError(f"timeout after {feed.timeout_seconds} s") from None
    except requests.RequestException as exc:
        raise FeedFetchError(f"connection failed ({type(exc).__name__})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise FeedFetchError("answer is not JSON") from None


def import_answer(
    session: Session, client: redis.Redis, payload: Any, outcome: SourceOutcome
) -> None:
    """One feed answer in one transaction; notify after COMMIT. Fills ``outcome``."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        outcome.records = len(payload["data"])
    try:
        result, touched = alerts.import_feed(session, payload, actor_label=ACTOR)
    except alerts.AlertError as exc:
        session.rollback()
        raise FeedFetchError(str(exc)) from None
    if result.errors:
        session.rollback()
        outcome.record_errors = result.errors[:MAX_LISTED]
        raise FeedFetchError(f"{len(result.errors)} invalid record(s); nothing imported")
    session.commit()
    outcome.created, outcome.updated, outcome.unchanged = (
        result.created,
        result.updated,
        result.unchanged,
    )
    outcome.unmatched = (result.unmatched or [])[:MAX_LISTED]
    for alert in touched:
        outcome.notified_sites += alerts.notify(session, client, alert)


def pull(
    sessionmaker: Callable[[], Session],
    client: redis.Redis,
    feed: AlertFeedSettings,
    *,
    http: requests.Session | None = None,
) -> PullOutcome:
    """Fetch and import every configured feed once; store and log the outcome."""
    outcome = PullOutcome(started_at=iso(utcnow()))
    if not feed.urls:
        outcome.error = "ALERT_FEED_URLS is not set"
        return _finish(client, outcome, store=True)
    lock = client.lock(
        LOCK_KEY, timeout=(feed.timeout_seconds + 60) * len(feed.urls), blocking=False
    )
    if not lock.acquire(blocking=False):
        outcome.skipped, outcome.error = True, "another pull is running"
        return _finish(client, outcome, store=False)
    previous = {s.get("source"): s.get("last_success_at") for s in _sources(last_outcome(client))}
    own_http = http is None
    http = http or requests.Session()
    try:
        for url in feed.urls:
            source = SourceOutcome(source=redact(url), last_success_at=previous.get(redact(url)))
            outcome.sources.append(source)
            try:
                payload = fetch(http, url, feed)
                with sessionmaker() as session:
                    import_answer(session, client, payload, source)
                source.ok, source.last_success_at = True, iso(utcnow())
            except FeedFetchError as exc:
                source.error = str(exc)
            except (SQLAlchemyError, redis.RedisError) as exc:
                log.exception("alert feed %s: import failed", source.source)
                source.error = f"internal error ({type(exc).__name__})"
    finally:
        if own_http:
            http.close()
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("alert feed: the pull lock expired before the pull ended")
    outcome.ok = all(s.ok for s in outcome.sources)
    return _finish(client, outcome, store=True)


def _sources(stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((stored or {}).get("sources") or [])


def _finish(client: redis.Redis, outcome: PullOutcome, *, store: bool) -> PullOutcome:
    outcome.finished_at = iso(utcnow())
    for s in outcome.sources:
        if s.ok:
            log.info(
                "alert feed %s: %d records, %d created, %d updated, %d unchanged, %d unmatched",
                s.source,
                s.records,
                s.created,
                s.updated,
                s.unchanged,
                len(s.unmatched),
            )
        else:
            log.warning("alert feed %s: %s", s.source, s.error)
    if outcome.error and not outcome.skipped:
        log.warning("alert feed: %s", outcome.error)
    if store:
        try:
            client.set(STATUS_KEY, json.dumps(outcome.as_dict(), ensure_ascii=False))
        except redis.RedisError:
            log.exception("alert feed: could not record the outcome")
    return outcome


def last_outcome(client: redis.Redis) -> dict[str, Any] | None:
    """The last stored outcome (``PullOutcome.as_dict()``), or None; Redis down → None."""
    try:
        raw = client.get(STATUS_KEY)
    except redis.RedisError:
        log.exception("alert feed status unavailable")
        return None
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict):
        for moment in ("started_at", "finished_at"):
            value[f"{moment}_dt"] = _parse(value.get(moment))
        for s in _sources(value):
            s["last_success_at_dt"] = _parse(s.get("last_success_at"))
        return value
    return None


def _parse(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def pull_for_app(app: Flask) -> PullOutcome:
    settings = app.config["CLEANGATE_SETTINGS"]
    return pull(
        get_database(app).sessionmaker, app.extensions["cleangate.redis"], settings.alert_feed
    )


def run_loop(
    run: Callable[[], PullOutcome],
    interval: float,
    stop: threading.Event,
    *,
    max_runs: int | None = None,
) -> int:
    """Call ``run`` every ``interval`` seconds until ``stop`` is set (or ``max_runs``); an
    unexpected exception is logged and the next run goes ahead. Returns the number of runs."""
    runs = 0
    while not stop.is_set():
        try:
            _echo(run())
        except Exception:
            log.exception("alert feed pull failed")
        runs += 1
        if max_runs is not None and runs >= max_runs:
            break
        stop.wait(interval)
    return runs


def _echo(outcome: PullOutcome) -> None:
    if outcome.skipped:
        click.echo("skipped: another pull is running")
    elif outcome.error:
        click.echo(f"error: {outcome.error}", err=True)
    for s in outcome.sources:
        if s.ok:
            click.echo(
                f"{s.source}: {s.records} records, {s.created} created, {s.updated} updated, "
                f"{s.unchanged} unchanged, {len(s.unmatched)} unmatched"
            )
        else:
            click.echo(f"{s.source}: error: {s.error}", err=True)


@click.group("alerts", help="Heavy-pollution alerts (docs/alerts.md).")
def alerts_cli() -> None:
    pass


@alerts_cli.command("pull")
@click.option("--loop", is_flag=True, help="Keep pulling every --interval seconds.")
@click.option(
    "--interval",
    type=click.IntRange(min=10),
    default=None,
    help="Seconds between pulls with --loop (default ALERT_FEED_INTERVAL_SECONDS, 300).",
)
@with_appcontext
def pull_command(loop: bool, interval: int | None) -> None:
    """Fetch findControlMeasuresInfo from ALERT_FEED_URLS and import it (docs/alerts.md)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.config["CLEANGATE_SETTINGS"]
    if not settings.alert_feed.urls:
        click.echo("ALERT_FEED_URLS is not set: nothing to pull.", err=True)
        sys.exit(2)
    if settings.redis_url == EMBEDDED_REDIS:
        click.echo(
            "REDIS_URL is embedded://: alerts are imported, but the hubs are not told and the "
            "console does not see the outcome (they live in other processes).",
            err=True,
        )
    if loop:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        run_loop(
            lambda: pull_for_app(app),
            interval or settings.alert_feed.interval_seconds,
            threading.Event(),
        )
        return
    outcome = pull_for_app(app)
    _echo(outcome)
    sys.exit(0 if outcome.ok else 1)
