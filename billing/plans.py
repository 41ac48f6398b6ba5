"""Plans, add-ons and subscriptions (docs/billing.md, "Plans and subscriptions").

The catalogue is provider data (no tenant), seeded from ``CATALOGUE`` by ``cleangate billing
seed`` (idempotent: it adds what is missing and never rewrites a price already stored). A
tenant has at most one subscription: plan, cycle (monthly | annual), add-on quantities and the
buyer details a 增值税发票 request needs.

Plan and cycle changes never take effect inside a period: they are recorded as ``pending_*``
and take effect from the next period start — monthly: the 1st of next month (Beijing time);
annual: the term's anniversary. The pending change is promoted by invoicing
(``billing.invoicing.issue_invoice``) when the period before it is billed. Add-on quantities
apply from the next invoice; one-off add-ons (expert service days) are billed once and then
cleared. Billing never touches gates, the ledger or regulator upload.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.periods import Period, add_years
from saas.auth import audit
from saas.compliance import normalize_uscc, validate_uscc
from saas.models.billing import BillingAddon, BillingPlan, Subscription
from saas.models.tenancy import Tenant
from saas.tenancy import system_context, tenant_context

CYCLES = ("monthly", "annual")
MAX_QUANTITY = 1_000_000
SMS_BUNDLE = "sms_bundle"  # one unit = 1 000 条 a month
STORAGE = "storage"  # one unit = 1 GB a month
SMS_PER_BUNDLE = 1000


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    site_monthly_fee: Decimal
    lane_monthly_fee: Decimal
    included_sms: int
    included_storage_gb: int
    annual_discount_pct: Decimal


@dataclass(frozen=True)
class AddonSpec:
    code: str
    name: str
    unit: str
    unit_price: Decimal
    recurring: bool


# Prices in CNY excluding VAT (不含税), per month unless stated.
# code, name, per site, per lane, SMS included, GB included, annual prepay discount %
PLANS: tuple[PlanSpec, ...] = (
    PlanSpec("basic", "基础版", Decimal("1200.00"), Decimal("200.00"), 500, 20, Decimal(10)),
    PlanSpec("standard", "标准版", Decimal("2400.00"), Decimal("350.00"), 2000, 100, Decimal(12)),
    PlanSpec("flagship", "旗舰版", Decimal("4800.00"), Decimal("500.00"), 10000, 500, Decimal(15)),
)
ADDONS: tuple[AddonSpec, ...] = (
    AddonSpec(SMS_BUNDLE, "短信包（每 1 000 条/月）", "千条", Decimal("50.00"), True),
    AddonSpec(STORAGE, "扩展存储（每 GB/月）", "GB·月", Decimal("1.00"), True),
    AddonSpec("expert_service", "专家服务（现场/远程，一次性）", "人天", Decimal("3000.00"), False),
)


class BillingError(ValueError):
    """Refused input or state, named by field; nothing was written. ``status`` is the HTTP
    answer a route gives (422 bad input, 404 unknown, 409 conflicting state)."""

    def __init__(self, fields: dict[str, str], status: int = 422, code: str = "invalid") -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
        self.status = status
        self.code = code


# --- catalogue -----------------------------------------------------------------------------


def seed_catalogue(
    session: Session, *, actor_id: uuid.UUID | None = None, actor_label: str | None = None
) -> dict[str, list[str]]:
    """Add the built-in plans and add-ons that are missing (by code). Idempotent; a price
    already stored is never changed (issued invoices keep their own copies anyway)."""
    have_plans = set(session.scalars(select(BillingPlan.code)))
    have_addons = set(session.scalars(select(BillingAddon.code)))
    created: list[str] = []
    for plan in PLANS:
        if plan.code not in have_plans:
            session.add(BillingPlan(**plan.__dict__, active=True))
            created.append(plan.code)
    for addon in ADDONS:
        if addon.code not in have_addons:
            session.add(BillingAddon(**addon.__dict__, active=True))
            created.append(addon.code)
    with system_context("billing: provider-level audit row of the catalogue seed"):
        if created:
            audit.record(
                session,
                "billing.catalogue_seed",
                tenant_id=None,
                actor_user_id=actor_id,
                actor_label=actor_label,
                details={"created": created},
            )
        session.flush()
    builtin = {p.code for p in PLANS} | {a.code for a in ADDONS}
    existing = sorted((have_plans | have_addons) & builtin)
    return {"created": created, "existing": existing}


def plans(session: Session, *, active_only: bool = False) -> list[BillingPlan]:
    stmt = select(BillingPlan).order_by(BillingPlan.site_monthly_fee, BillingPlan.code)
    if active_only:
        stmt = stmt.where(BillingPlan.active.is_(True))
    return list(session.scalars(stmt))


def addons(session: Session, *, active_only: bool = False) -> list[BillingAddon]:
    stmt = select(BillingAddon).order_by(BillingAddon.recurring.desc(), BillingAddon.code)
    if active_only:
        stmt = stmt.where(BillingAddon.active.is_(True))
    return list(session.scalars(stmt))


def plan_by_code(session: Session, code: str, field: str = "plan") -> BillingPlan:
    plan = session.scalar(select(BillingPlan).where(BillingPlan.code == (code or "").strip()))
    if plan is None or not plan.active:
        raise BillingError({field: f"未知或已停用的套餐：{code}"})
    return plan


# --- validation ----------------------------------------------------------------------------


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,7}\s*", value):
        return int(value)
    return None


def validate_addons(session: Session, quantities: Mapping[str, Any]) -> dict[str, int]:
    """``{code: quantity}`` → only positive quantities kept; unknown or inactive codes and
    quantities that are not whole numbers ≥ 0 are refused, named ``addons.<code>``."""
    known = {a.code: a for a in addons(session)}
    errors: dict[str, str] = {}
    clean: dict[str, int] = {}
    for code, raw in quantities.items():
        addon = known.get(code)
        if addon is None or not addon.active:
            errors[f"addons.{code}"] = f"未知或已停用的附加服务：{code}"
            continue
        qty = _quantity(raw)
        if qty is None or not 0 <= qty <= MAX_QUANTITY:
            errors[f"addons.{code}"] = "数量须为 0 到 1000000 之间的整数"
            continue
        if qty:
            clean[code] = qty
    if errors:
        raise BillingError(errors)
    return clean


BUYER_FIELDS = (
    "buyer_name",
    "buyer_tax_no",
    "buyer_address",
    "buyer_phone",
    "buyer_bank",
    "buyer_account",
    "billing_email",
)
_LIMITS = {
    "buyer_name": 200,
    "buyer_address": 200,
    "buyer_bank": 200,
    "billing_email": 200,
}
_PHONE = re.compile(r"^[0-9+\-() ]{5,30}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_LEGACY_TAX_NO = {
    15: re.compile(r"^\d{6}[0-9A-Z]{9}$"),  # 税务登记证号: 行政区划 + 组织机构代码
    17: re.compile(r"^\d{17}$"),
    20: re.compile(r"^\d{17}[0-9X]\d{2}$"),  # 身份证号 + 2 位顺序码 (个体工商户)
}


def validate_tax_no(text: str) -> str | None:
    """The error for a 纳税人识别号, or None: an 18-character 统一社会信用代码 (checked by
    ``saas.compliance.validate_uscc``) or a legacy 15/17/20-character number."""
    code = normalize_uscc(text)
    if len(code) == 18:
        problems = validate_uscc(code)
        if not problems:
            return None
        if "bad_check_char" in problems:
            return "统一社会信用代码校验位不正确"
        return "统一社会信用代码格式不正确"
    pattern = _LEGACY_TAX_NO.get(len(code))
    if pattern is None:
        return "纳税人识别号须为 18 位统一社会信用代码，或 15、17、20 位旧税号"
    if not pattern.match(code):
        return "纳税人识别号格式不正确"
    return None


def validate_buyer(data: Mapping[str, Any]) -> dict[str, str | None]:
    """The buyer block of a subscription (名称, 纳税人识别号, 地址, 电话, 开户行, 账号, billing
    e-mail) cleaned, or ``BillingError`` naming each bad field. Name and tax number are
    required; bank and account go together."""
    raw = {name: str(data.get(name) or "").strip() for name in BUYER_FIELDS}
    errors: dict[str, str] = {}
    for name, limit in _LIMITS.items():
        if len(raw[name]) > limit:
            errors[name] = f"不超过 {limit} 个字符"
    if not raw["buyer_name"]:
        errors["buyer_name"] = "请填写购买方名称"
    if not raw["buyer_tax_no"]:
        errors["buyer_tax_no"] = "请填写纳税人识别号"
    else:
        raw["buyer_tax_no"] = normalize_uscc(raw["buyer_tax_no"])
        problem = validate_tax_no(raw["buyer_tax_no"])
        if problem:
            errors["buyer_tax_no"] = problem
    if raw["buyer_phone"] and not _PHONE.match(raw["buyer_phone"]):
        errors["buyer_phone"] = "电话只能包含数字、空格、+、-、括号（5–30 位）"
    account = re.sub(r"[\s-]", "", raw["buyer_account"])
    if account and not re.fullmatch(r"\d{8,32}", account):
        errors["buyer_account"] = "银行账号须为 8–32 位数字"
    raw["buyer_account"] = account
    if bool(raw["buyer_bank"]) != bool(account) and "buyer_account" not in errors:
        errors["buyer_bank" if account else "buyer_account"] = "开户行与账号须同时填写"
    if raw["billing_email"] and not _EMAIL.match(raw["billing_email"]):
        errors["billing_email"] = "电子邮箱格式不正确"
    if errors:
        raise BillingError(errors)
    return {name: (value or None) for name, value in raw.items()}


# --- subscriptions -------------------------------------------------------------------------


def subscription_of(session: Session, tenant_id: uuid.UUID) -> Subscription | None:
    with tenant_context(tenant_id):
        return session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id))


def _check_cycle(cycle: str) -> str:
    if cycle not in CYCLES:
        raise BillingError({"cycle": "计费周期须为 monthly（月付）或 annual（年付）"})
    return cycle


def subscribe(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    plan_code: str,
    cycle: str,
    addon_quantities: Mapping[str, Any],
    buyer: Mapping[str, Any],
    starts_on: date,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> Subscription:
    """Start the tenant's subscription on ``starts_on`` (a mid-month start bills the first
    month pro rata by days; an annual term runs 12 months from that day). Flushes, does not
    commit. A tenant has one subscription: a second one is a 409."""
    errors: dict[str, str] = {}
    plan: BillingPlan | None = None
    clean_addons: dict[str, int] = {}
    clean_buyer: dict[str, str | None] = {}
    for check in ("plan", "cycle", "addons", "buyer"):
        try:
            if check == "plan":
                plan = plan_by_code(session, plan_code)
            elif check == "cycle":
                _check_cycle(cycle)
            elif check == "addons":
                clean_addons = validate_addons(session, addon_quantities)
            else:
                clean_buyer = validate_buyer(buyer)
        except BillingError as exc:
            errors.update(exc.fields)
    if errors or plan is None:
        raise BillingError(errors)
    with tenant_context(tenant_id):
        if session.get(Tenant, tenant_id) is None:
            raise BillingError({"tenant": "企业不存在"}, status=404, code="not_found")
        if subscription_of(session, tenant_id) is not None:
            raise BillingError(
                {"tenant": "该企业已有订阅，请变更套餐"}, status=409, code="conflict"
            )
        sub = Subscription(
            tenant_id=tenant_id,
            plan_id=plan.id,
            cycle=cycle,
            addons=clean_addons,
            starts_on=starts_on,
            **clean_buyer,
        )
        session.add(sub)
        audit.record(
            session,
            "billing.subscribe",
            tenant_id=tenant_id,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={
                "plan": plan.code,
                "cycle": cycle,
                "addons": clean_addons,
                "starts_on": starts_on.isoformat(),
            },
        )
        session.flush()
    return sub


def current_term_start(sub: Subscription) -> date:
    """Annual: the first day of the term being served or next to bill."""
    return sub.paid_through + timedelta(days=1) if sub.paid_through else sub.starts_on


def next_period_start(sub: Subscription, today: date) -> date:
    """Where a change requested ``today`` takes effect: monthly — the 1st of next month;
    annual — the next anniversary of the term (a term renews itself until changed)."""
    if sub.cycle == "annual":
        anchor = current_term_start(sub)
        years = 0
        while add_years(anchor, years) <= today:
            years += 1
        return add_years(anchor, years)
    return Period.of(today).next().start


def change_plan(
    session: Session,
    sub: Subscription,
    *,
    plan_code: str,
    cycle: str,
    today: date,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> Subscription:
    """Record a plan and/or cycle change as pending from the next period start (no proration:
    it starts on a period boundary). Asking for the plan and cycle in force cancels a pending
    change. A subscription not yet started changes at once. Flushes, does not commit."""
    errors: dict[str, str] = {}
    plan: BillingPlan | None = None
    try:
        plan = plan_by_code(session, plan_code)
    except BillingError as exc:
        errors.update(exc.fields)
    try:
        _check_cycle(cycle)
    except BillingError as exc:
        errors.update(exc.fields)
    if errors or plan is None:
        raise BillingError(errors)
    with tenant_context(sub.tenant_id):
        if sub.pending_from is not None and sub.pending_from <= today:
            raise BillingError(
                {
                    "plan": f"上一次变更已于 {sub.pending_from.isoformat()} 生效但尚未结算，"
                    f"请先开具 {Period.of(sub.pending_from - timedelta(days=1))} 的账单"
                },
                status=409,
                code="conflict",
            )
        before = {
            "plan_id": str(sub.plan_id),
            "cycle": sub.cycle,
            "pending_plan_id": str(sub.pending_plan_id) if sub.pending_plan_id else None,
            "pending_cycle": sub.pending_cycle,
            "pending_from": sub.pending_from.isoformat() if sub.pending_from else None,
        }
        if sub.starts_on > today:
            sub.plan_id, sub.cycle = plan.id, cycle
            sub.pending_plan_id = sub.pending_cycle = sub.pending_from = None
            event, effective = "billing.plan_change", sub.starts_on
        elif plan.id == sub.plan_id and cycle == sub.cycle:
            sub.pending_plan_id = sub.pending_cycle = sub.pending_from = None
            event, effective = "billing.plan_change_cancel", None
        else:
            effective = next_period_start(sub, today)
            sub.pending_plan_id, sub.pending_cycle, sub.pending_from = plan.id, cycle, effective
            event = "billing.plan_change"
        audit.record(
            session,
            event,
            tenant_id=sub.tenant_id,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={
                "before": before,
                "plan": plan.code,
                "cycle": cycle,
                "effective": effective.isoformat() if effective else None,
            },
        )
        session.flush()
    return sub


def apply_due_change(session: Session, sub: Subscription, on: date) -> bool:
    """Promote a pending change that is in force on ``on``. Switching into the annual cycle
    starts a term on the change date (``paid_through`` = the day before)."""
    if sub.pending_from is None or sub.pending_from > on:
        return False
    assert sub.pending_plan_id is not None
    assert sub.pending_cycle is not None
    with tenant_context(sub.tenant_id):
        before = {"plan_id": str(sub.plan_id), "cycle": sub.cycle}
        if sub.pending_cycle == "annual":
            sub.paid_through = sub.pending_from - timedelta(days=1)
        sub.plan_id, sub.cycle = sub.pending_plan_id, sub.pending_cycle
        effective = sub.pending_from
        sub.pending_plan_id = sub.pending_cycle = sub.pending_from = None
        audit.record(
            session,
            "billing.plan_change_applied",
            tenant_id=sub.tenant_id,
            actor_label="billing",
            details={
                "before": before,
                "plan_id": str(sub.plan_id),
                "cycle": sub.cycle,
                "effective": effective.isoformat(),
            },
        )
        session.flush()
    return True


def set_addons(
    session: Session,
    sub: Subscription,
    quantities: Mapping[str, Any],
    *,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> Subscription:
    """Replace the add-on quantities (a code left out keeps its quantity; 0 removes it).
    They apply from the next invoice."""
    clean = validate_addons(session, quantities)
    with tenant_context(sub.tenant_id):
        before = dict(sub.addons or {})
        after = {k: v for k, v in before.items() if k not in quantities}
        after.update(clean)
        sub.addons = after
        audit.record(
            session,
            "billing.addons",
            tenant_id=sub.tenant_id,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={"before": before, "after": after},
        )
        session.flush()
    return sub


def update_buyer(
    session: Session,
    sub: Subscription,
    data: Mapping[str, Any],
    *,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> list[str]:
    """Set the buyer details; returns the names of the fields that changed (audited by name,
    not value). Invoices already issued keep their own snapshot."""
    clean = validate_buyer(data)
    with tenant_context(sub.tenant_id):
        changed = [name for name, value in clean.items() if getattr(sub, name) != value]
        for name in changed:
            setattr(sub, name, clean[name])
        if changed:
            audit.record(
                session,
                "billing.buyer",
                tenant_id=sub.tenant_id,
                actor_user_id=actor_id,
                actor_label=actor_label,
                details={"changed": changed},
            )
        session.flush()
    return changed


def buyer_snapshot(sub: Subscription, tenant_name: str) -> dict[str, str | None]:
    """What an invoice keeps of the buyer (the tenant's name when none was given)."""
    return {
        "name": sub.buyer_name or tenant_name,
        "tax_no": sub.buyer_tax_no,
        "address": sub.buyer_address,
        "phone": sub.buyer_phone,
        "bank": sub.buyer_bank,
        "account": sub.buyer_account,
        "email": sub.billing_email,
    }


# --- across tenants ------------------------------------------------------------------------


def subscribed_tenant_ids(session: Session) -> list[uuid.UUID]:
    """Every tenant with a subscription (provider-side monthly runs; each tenant is then
    worked on in its own tenant context)."""
    with system_context("billing: which tenants have a subscription"):
        return list(
            session.scalars(select(Subscription.tenant_id).order_by(Subscription.created_at))
        )


def all_tenant_ids(session: Session) -> list[uuid.UUID]:
    with system_context("billing: tenants to meter"):
        return list(session.scalars(select(Tenant.id).order_by(Tenant.created_at)))
