"""Console: regulator report rates across tenants (provider view, read-only) — per platform
configuration, gate and lane, by Beijing day or month, with the alarm list below 99 %
(docs/regulator.md, "Configuration and screens").

Provider staff belong to no tenant: the configurations, their sites and tenants and the rates
are read in a system context (``console.view`` only, nothing written). No secret is read.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import render_template, request
from sqlalchemy import func, select

from saas.api.regulator import rate_window
from saas.auth.permissions import Permission, require
from saas.console import bp
from saas.db import get_session
from saas.errors import ApiError
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.models.tenancy import Site, Tenant
from saas.regulator.report_rate import ALARM_BELOW, report_rates
from saas.tenancy import system_context

MAX_CONFIGS = 500


@bp.get("/regulator", endpoint="regulator")
@require(Permission.CONSOLE_VIEW)
def regulator_rates() -> tuple[str, int]:
    args = request.args
    errors: dict[str, str] = {}
    try:
        period, first, last = rate_window(args.get("period"), args.get("from"), args.get("to"))
    except ApiError as exc:
        errors = exc.details.get("fields", {})
        period, first, last = rate_window(None, None, None)
    session = get_session()
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    with system_context("console: regulator report rates across tenants (read-only)"):
        found = session.execute(
            select(RegulatorConfig, Site.name, Tenant.name)
            .join(Site, Site.id == RegulatorConfig.site_id)
            .join(Tenant, Tenant.id == RegulatorConfig.tenant_id)
            .order_by(Tenant.name, Site.name, RegulatorConfig.name)
            .limit(MAX_CONFIGS + 1)
        ).all()
        truncated = len(found) > MAX_CONFIGS
        found = found[:MAX_CONFIGS]
        ids = [config.id for config, _site, _tenant in found]
        problems: dict[uuid.UUID, int] = dict(
            session.execute(
                select(RegulatorUpload.config_id, func.count())
                .where(
                    RegulatorUpload.config_id.in_(ids),
                    RegulatorUpload.status.in_(("rejected", "dead")),
                )
                .group_by(RegulatorUpload.config_id)
            ).all()
        ) if ids else {}  # fmt: skip
        for config, site_name, tenant_name in found:
            rates = report_rates(
                session, config.site_id, first, last, period=period, config_id=config.id
            )
            captured = sum(r.captured for r in rates)
            on_time = sum(r.on_time for r in rates)
            label = {
                "tenant": tenant_name,
                "site": site_name,
                "config": config.name,
                "active": config.active,
            }
            summary.append(
                {
                    **label,
                    "captured": captured,
                    "on_time": on_time,
                    "rate": (on_time / captured) if captured else None,
                    "alarm": any(r.alarm for r in rates),
                    "problems": problems.get(config.id, 0),
                    "last_test_ok": config.last_test_ok,
                }
            )
            rows.extend({**label, **r.as_dict()} for r in rates)
    html = render_template(
        "console/regulator.html",
        period=period,
        start=first.isoformat(),
        end=last.isoformat(),
        summary=summary,
        alarms=[r for r in rows if r["alarm"]],
        rows=rows,
        errors=errors,
        truncated=truncated,
        alarm_below=f"{ALARM_BELOW * 100:.0f}",
    )
    return html, 422 if errors else 200
