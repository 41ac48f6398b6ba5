"""Sites (plants): input validation with ``saas.compliance`` and the service functions."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.compliance import (
    Industry,
    Rating,
    normalize_uscc,
    validate_region_code,
    validate_uscc,
)
from saas.errors import NotFound
from saas.models.tenancy import Site


def _uscc(value: str) -> str:
    errors = validate_uscc(value)
    if errors:
        raise PydanticCustomError(
            "uscc_invalid", "统一社会信用代码无效 ({codes})", {"codes": ",".join(errors)}
        )
    return normalize_uscc(value)


def _region(value: str) -> str:
    errors = validate_region_code(value)
    if errors:
        raise PydanticCustomError(
            "region_invalid", "行政区划代码无效 ({codes})", {"codes": ",".join(errors)}
        )
    return value.strip()


def _industry(value: str) -> str:
    if value not in Industry._value2member_map_:
        raise PydanticCustomError("industry_invalid", "行业代码未知: {value}", {"value": value})
    return value


def _rating(value: str) -> str:
    if value not in Rating._value2member_map_:
        raise PydanticCustomError("rating_invalid", "绩效等级未知: {value}", {"value": value})
    return value


Uscc = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_uscc)]
RegionCode = Annotated[str, AfterValidator(_region)]
IndustryCode = Annotated[str, AfterValidator(_industry)]
RatingCode = Annotated[str, AfterValidator(_rating)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
OptionalText = Annotated[str | None, Field(default=None, max_length=300)]
Phone = Annotated[str | None, Field(default=None, max_length=30, pattern=r"^[0-9+\-() ]*$")]


class SiteFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text200
    uscc: Uscc
    permit_no: Annotated[str | None, Field(default=None, max_length=40)] = None
    region_code: RegionCode
    industry: IndustryCode
    rating: RatingCode = Rating.UNRATED.value
    address: OptionalText = None
    longitude: Annotated[Decimal | None, Field(default=None, ge=-180, le=180)] = None
    latitude: Annotated[Decimal | None, Field(default=None, ge=-90, le=90)] = None
    legal_representative: Annotated[str | None, Field(default=None, max_length=100)] = None
    legal_representative_phone: Phone = None
    contact_name: Annotated[str | None, Field(default=None, max_length=100)] = None
    contact_phone: Phone = None


class SitePatch(BaseModel):
    """Partial update: only the fields given change (allow-list, no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text200 | None = None
    uscc: Uscc | None = None
    permit_no: Annotated[str | None, Field(default=None, max_length=40)] = None
    region_code: RegionCode | None = None
    industry: IndustryCode | None = None
    rating: RatingCode | None = None
    address: OptionalText = None
    longitude: Annotated[Decimal | None, Field(default=None, ge=-180, le=180)] = None
    latitude: Annotated[Decimal | None, Field(default=None, ge=-90, le=90)] = None
    legal_representative: Annotated[str | None, Field(default=None, max_length=100)] = None
    legal_representative_phone: Phone = None
    contact_name: Annotated[str | None, Field(default=None, max_length=100)] = None
    contact_phone: Phone = None


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    uscc: str
    permit_no: str | None
    region_code: str
    industry: str
    rating: str
    address: str | None
    longitude: Decimal | None
    latitude: Decimal | None
    legal_representative: str | None
    legal_representative_phone: str | None
    contact_name: str | None
    contact_phone: str | None
    created_at: datetime


def get_site(session: Session, site_id: uuid.UUID) -> Site:
    """The current tenant's site, or 404 (another tenant's site answers the same)."""
    site = session.scalars(select(Site).where(Site.id == site_id)).one_or_none()
    if site is None:
        raise NotFound("站点")
    return site


def update_site(session: Session, site: Site, patch: SitePatch) -> Site:
    for name, value in patch.model_dump(exclude_unset=True).items():
        setattr(site, name, value)
    session.commit()
    return site
