"""The export job: thin — the work is ``saas.ledger.exports.perform_export``."""

from __future__ import annotations

import uuid

from flask import current_app
from rq import get_current_job

from saas import jobs
from saas.db import get_database
from saas.ledger import exports
from saas.models.ledger import Export

QUEUE = "exports"
FUNC = "saas.jobs.exports.run_export"
TIMEOUT = 2 * 3600  # millions of rows: minutes, not hours; the cap only stops a stuck job


def run_export(export_id: str) -> dict[str, object]:
    """Runs in the export's tenant context (``run_tenant_job``)."""
    job = get_current_job()
    final = job is None or not job.retries_left
    done = exports.perform_export(
        uuid.UUID(export_id),
        sessionmaker=get_database().sessionmaker,
        storage=current_app.extensions["cleangate.storage"],
        final=final,
    )
    if done is None:
        return {"export_id": export_id, "status": "missing"}
    return {"export_id": export_id, "status": done.status, "rows": done.rows_done}


def enqueue_export(export: Export) -> None:
    """One job per export; the job id is the export id (a repeated enqueue replaces it)."""
    jobs.enqueue(
        QUEUE,
        FUNC,
        tenant_id=export.tenant_id,
        job_id=f"export-{export.id}",
        timeout=TIMEOUT,
        retry=jobs.default_retry(),
        export_id=str(export.id),
    )
