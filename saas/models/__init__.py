"""All mapped models, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from saas.models.alerts import Alert, SiteAlert
from saas.models.billing import (
    BillingAddon,
    BillingPlan,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    Subscription,
    UsageRecord,
)
from saas.models.identity import ApiToken, AuditEvent, LoginSession, Role, SupportGrant, User
from saas.models.ledger import (
    Carrier,
    Checkpoint,
    EdgeDevice,
    InPlantVehicle,
    LedgerEvent,
    LedgerHead,
    NonRoadMachinery,
    Passage,
    RegistryChange,
    TransportVehicle,
    VehicleListEntry,
)
from saas.models.miniprogram import (
    CargoRegistration,
    MpUser,
    MpVehicle,
    MpVehicleSite,
    VisitorBooking,
)
from saas.models.outbox import OutboxMessage, SiteContact
from saas.models.plans import MeasureCheck, SitePlan
from saas.models.rating import RatingDocument
from saas.models.regulator import RegulatorConfig, RegulatorUpload, SiteGate
from saas.models.tenancy import Site, Tenant, TenantStatus

__all__ = [
    "Alert",
    "ApiToken",
    "AuditEvent",
    "BillingAddon",
    "BillingPlan",
    "CargoRegistration",
    "Carrier",
    "Checkpoint",
    "EdgeDevice",
    "InPlantVehicle",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "LedgerEvent",
    "LedgerHead",
    "LoginSession",
    "MeasureCheck",
    "MpUser",
    "MpVehicle",
    "MpVehicleSite",
    "NonRoadMachinery",
    "OutboxMessage",
    "Passage",
    "Payment",
    "RatingDocument",
    "RegistryChange",
    "RegulatorConfig",
    "RegulatorUpload",
    "Role",
    "Site",
    "SiteAlert",
    "SiteContact",
    "SiteGate",
    "SitePlan",
    "Subscription",
    "SupportGrant",
    "Tenant",
    "TenantStatus",
    "TransportVehicle",
    "UsageRecord",
    "User",
    "VehicleListEntry",
    "VisitorBooking",
]
