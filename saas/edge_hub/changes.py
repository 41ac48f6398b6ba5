"""Tell the hubs when a site's snapshot changed, from wherever the change was made.

A session listener collects the sites of every flushed row of a snapshot model (registries,
black/white lists; policies, alerts and bookings register here as they arrive) and publishes
``bus.notify_site_changed`` once per site *after* COMMIT — never for a rolled-back change.
Portal forms, the API, imports and jobs are all covered without each remembering to call it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from saas.edge_hub import bus
from saas.models.alerts import SiteAlert
from saas.models.ledger import InPlantVehicle, NonRoadMachinery, TransportVehicle, VehicleListEntry
from saas.models.miniprogram import VisitorBooking
from saas.models.plans import SitePlan
from saas.models.tenancy import Site

log = logging.getLogger(__name__)

SNAPSHOT_MODELS: dict[type, str] = {
    TransportVehicle: "registry",
    InPlantVehicle: "registry",
    NonRoadMachinery: "registry",
    VehicleListEntry: "lists",
    SiteAlert: "alert",  # regional alerts are provider data: saas.policy.alerts.notify after COMMIT
    SitePlan: "plan",
    Site: "site",  # the board header (name, legal representative, rating) is in the snapshot
    VisitorBooking: "bookings",  # approved ones admit their plate (saas/bookings.py)
}
_KEY = "cleangate.snapshot_changes"


def _collect(session: Session, _ctx: Any, _instances: Any) -> None:
    pending: dict[tuple[uuid.UUID, uuid.UUID], set[str]] = session.info.setdefault(_KEY, {})
    for obj in (*session.new, *session.dirty, *session.deleted):
        what = SNAPSHOT_MODELS.get(type(obj))
        if what is None:
            continue
        tenant_id = getattr(obj, "tenant_id", None)
        site_id = obj.id if isinstance(obj, Site) else getattr(obj, "site_id", None)
        if tenant_id is not None and site_id is not None:
            pending.setdefault((tenant_id, site_id), set()).add(what)


def install(factory: sessionmaker[Session], client: redis.Redis) -> None:
    def after_commit(session: Session) -> None:
        pending = session.info.pop(_KEY, None)
        for (tenant_id, site_id), whats in (pending or {}).items():
            try:
                bus.notify_site_changed(client, tenant_id, site_id, ",".join(sorted(whats)))
            except redis.RedisError:  # the data is committed; bridges resync on reconnect
                log.exception("could not notify hubs of a change at site %s", site_id)

    def after_rollback(session: Session) -> None:
        session.info.pop(_KEY, None)

    event.listen(factory, "before_flush", _collect)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_soft_rollback", lambda s, _t: after_rollback(s))
