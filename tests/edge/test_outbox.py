"""The edge outbox keeps every acknowledged write across SIGKILL and forwards exactly what the
cloud has not acknowledged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from edge_bridge.outbox import Outbox


def test_put_pending_acknowledge(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for i, event_id in enumerate(ids):
        assert box.put(event_id, {"event_id": event_id, "i": i})
    assert not box.put(ids[0], {"again": True})  # already queued
    assert [p.event_id for p in box.pending()] == ids
    box.acknowledge(
        [
            {"event_id": ids[0], "status": "stored"},
            {"event_id": ids[1], "status": "duplicate"},
            {"event_id": ids[2], "status": "conflict"},
        ]
    )
    assert [p.event_id for p in box.pending()] == ids[3:]
    assert box.depth() == 2
    sha = box.put_image(b"\xff\xd8\xffjpeg", "image/jpeg")
    assert box.image_bytes(sha) == b"\xff\xd8\xffjpeg"
    assert box.pending_images() == [(sha, "image/jpeg")]
    box.image_uploaded(sha)
    assert box.pending_images() == []
    assert not list((tmp_path / "images").glob(".*.tmp"))
    box.close()


def test_sigkill_never_loses_an_acknowledged_write(tmp_path: Path) -> None:
    """Kill the writer at random moments; every id it printed (after COMMIT) must be there,
    with its photo intact, and the database must pass its integrity check."""
    rng = random.Random(1321)
    acknowledged: dict[str, str] = {}
    kills = int(os.environ.get("CLEANGATE_KILL_ROUNDS", "25"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.edge.outbox_writer", str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(0.15 + rng.random() * 0.35)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2:  # a torn last line was never acknowledged
                acknowledged[parts[0]] = parts[1]
    box = Outbox(tmp_path)
    assert box.integrity_ok()
    stored = {p.event_id for p in box.pending(limit=10**9)}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"
    for event_id, sha in list(acknowledged.items())[:200]:
        assert box.image_bytes(sha) == f"photo {event_id}".encode() * 50
    assert len(acknowledged) > kills  # the test really wrote under fire
    box.close()


def test_disk_full_is_reported_and_nothing_written_is_lost(tmp_path: Path) -> None:
    """A tiny size limit stands in for a full disk (no mount needed)."""
    import pytest

    from edge_bridge.outbox import OutboxFull

    box = Outbox(tmp_path)
    written = []
    box.db.execute("PRAGMA max_page_count = 40")

    def fill() -> None:
        for _ in range(10_000):
            event_id = str(uuid.uuid4())
            box.put(event_id, {"event_id": event_id, "pad": "x" * 400})
            written.append(event_id)

    with pytest.raises(OutboxFull):
        fill()
    assert written
    assert {p.event_id for p in box.pending(limit=10**6)} == set(written)
    assert box.integrity_ok()
    box.close()
