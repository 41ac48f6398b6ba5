"""Pre-check: "if I arrive at this site now, will I get in?"

The answer is ``saas.compliance.decide`` over the same snapshot the site's bridges decide from
(``saas.edge_hub.snapshot.build``, read for this one plate): the plan's gate policy in force,
the alert level at that moment, the registry, black/white lists and approved bookings. So the
driver sees what the gate will say — unless the site changes something before they arrive,
which the answer's ``checked_at`` and ``alert_level`` make plain.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from flask.typing import ResponseReturnValue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from miniprogram_api import registry, sites
from saas.compliance import Direction, GateEvent, decide, parse_plate, plates
from saas.compliance.decision import DecisionContext
from saas.compliance.snapshot import Site as SnapshotSite
from saas.db import utcnow
from saas.edge_hub import snapshot
from saas.errors import ApiError
from saas.ledger.exports import REASON_LABELS

VERDICT_TEXT = {"allow": "可以进入", "deny": "禁止进入", "review": "需门岗人工核验"}
VERDICT_TEXT_OUT = {"allow": "可以出厂", "deny": "出厂将记为违规", "review": "需门岗人工核验"}
MAX_AHEAD = timedelta(hours=72)  # alert windows are known 72 h ahead (docs/alerts.md)


class PrecheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    site_id: uuid.UUID
    plate: Annotated[str, Field(min_length=1, max_length=16)]
    plate_color: Annotated[str | None, Field(max_length=16)] = None
    direction: Literal["in", "out"] = "in"
    at: AwareDatetime | None = None  # planned arrival; default now, at most 72 h ahead


class Reason(BaseModel):
    code: str
    message: str


class PrecheckOut(BaseModel):
    verdict: Literal["allow", "deny", "review"]
    verdict_text: str
    reasons: list[Reason]
    display: list[str]  # the gate's LED lines
    plate: str
    emission_stage: str | None
    alert_level: str
    alert_level_text: str
    registered: bool
    checked_at: str


@registry.route(
    "/precheck",
    "POST",
    summary="预检：现在（或计划时间）到达该站点能否进厂，并给出原因",
    tags=["precheck"],
    permission=None,
    secured=True,
    body=PrecheckIn,
    response=PrecheckOut,
)
def precheck(body: PrecheckIn) -> ResponseReturnValue:
    plate = parse_plate(body.plate, body.plate_color)
    if not plate.valid or not plate.normalized:
        reasons = plates.error_reasons(plate.errors or ("bad_length",))
        raise ApiError(
            422,
            "plate_invalid",
            "车牌号码无效",
            {
                "fields": {"plate": "；".join(r["message"] for r in reasons)},
                "reasons": reasons,
            },
        )
    now = utcnow()
    at = body.at.astimezone(UTC) if body.at is not None else now
    if not (now - timedelta(minutes=5) <= at <= now + MAX_AHEAD):
        raise ApiError(
            422,
            "validation_failed",
            "预检时间须在当前至 72 小时内",
            {"fields": {"at": "须在当前至 72 小时内"}},
        )
    with sites.site_scope(body.site_id) as (session, site):
        body_ = snapshot.build(session, site.id, plate=plate.normalized)
    parsed = SnapshotSite(body_)
    facts = parsed.facts(plate.normalized, at)
    level = parsed.alert_level_at(at)
    decision = decide(
        GateEvent(
            plate_text=body.plate,
            time=at,
            color=body.plate_color,
            direction=Direction(body.direction),
        ),
        facts,
        DecisionContext(policy=parsed.policy, time=at, alert_level=level),
    )
    verdict = decision.verdict.value
    texts = VERDICT_TEXT if body.direction == "in" else VERDICT_TEXT_OUT
    return {
        "verdict": verdict,
        "verdict_text": texts[verdict],
        "reasons": [{"code": r, "message": REASON_LABELS.get(r, r)} for r in decision.reasons],
        "display": list(decision.display),
        "plate": plate.normalized,
        "emission_stage": decision.stage.value if decision.stage is not None else None,
        "alert_level": level.value,
        "alert_level_text": level.label_zh,
        "registered": plate.normalized in parsed.registry,
        "checked_at": _iso(at),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
