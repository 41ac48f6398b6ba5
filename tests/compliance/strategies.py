"""Hypothesis strategies shared by the policy and decision tests."""

from __future__ import annotations

from datetime import date, time

from hypothesis import strategies as st

from saas.compliance import (
    DateRange,
    Direction,
    EmissionStage,
    Exemption,
    ExemptionCategory,
    FuelType,
    PlateColor,
    Policy,
    PolicySettings,
    Rule,
    RuleSet,
    Scope,
    TimeWindow,
    VehicleCategory,
    VehicleClass,
    Verdict,
)

REAL_STAGES = [s for s in EmissionStage if s is not EmissionStage.UNKNOWN]


def subset(values: list, min_size: int = 1) -> st.SearchStrategy:  # type: ignore[type-arg]
    return st.lists(
        st.sampled_from(values), min_size=min_size, max_size=len(values), unique=True
    ).map(tuple)


def optional(strategy: st.SearchStrategy, sparse: bool = False) -> st.SearchStrategy:  # type: ignore[type-arg]
    """None or a value; ``sparse`` makes None three times as likely (fewer filters per rule)."""
    if sparse:
        return st.one_of(st.none(), st.none(), st.none(), strategy)
    return st.one_of(st.none(), strategy)


clock = st.builds(time, st.integers(0, 23), st.integers(0, 59))
windows = st.tuples(clock, clock).filter(lambda p: p[0] != p[1]).map(lambda p: TimeWindow(*p))
day = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def date_ranges(draw: st.DrawFn) -> DateRange:
    start, end = draw(optional(day)), draw(optional(day))
    if start is None and end is None:
        start = draw(day)
    if start is not None and end is not None and end < start:
        start, end = end, start
    return DateRange(start, end)


@st.composite
def stage_bounds(draw: st.DrawFn) -> tuple[EmissionStage | None, EmissionStage | None]:
    minimum = draw(optional(st.sampled_from(REAL_STAGES)))
    below = draw(optional(st.sampled_from(REAL_STAGES)))
    if minimum is not None and below is not None and below <= minimum:
        return minimum, None
    return minimum, below


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def rules(
    draw: st.DrawFn, rule_id: str, effect: Verdict | None = None, sparse: bool = False
) -> Rule:
    minimum, below = draw(stage_bounds())
    if sparse and draw(st.booleans()):
        minimum = None
    return Rule(
        id=rule_id,
        effect=effect if effect is not None else draw(st.sampled_from(list(Verdict))),
        description=draw(text),
        source=draw(text),
        confidence=draw(optional(st.sampled_from(["CONFIRMED", "VENDOR", "IMPL", "UNCONFIRMED"]))),
        categories=draw(optional(subset(list(VehicleCategory)), sparse)),
        vehicle_classes=draw(optional(subset(list(VehicleClass)), sparse)),
        heavy_duty=draw(optional(st.booleans(), sparse)),
        fuels=draw(optional(subset(list(FuelType)), sparse)),
        plate_colors=draw(optional(subset(list(PlateColor)), sparse)),
        min_stage=minimum,
        below_stage=below,
        directions=draw(optional(subset(list(Direction)), sparse)),
        weekdays=draw(optional(subset(list(range(1, 8))), sparse)),
        time_windows=draw(
            optional(st.lists(windows, min_size=1, max_size=3, unique=True).map(tuple), sparse)
        ),
        date_range=draw(optional(date_ranges(), sparse)),
    )


@st.composite
def rule_sets(draw: st.DrawFn, prefix: str, max_rules: int = 4, sparse: bool = False) -> RuleSet:
    n = draw(st.integers(0, max_rules))
    return RuleSet(
        rules=tuple(draw(rules(f"{prefix}-{i}", sparse=sparse)) for i in range(n)),
        measures=tuple(draw(st.lists(text, max_size=2))),
    )


@st.composite
def exemptions(draw: st.DrawFn) -> tuple[Exemption, ...]:
    cats = draw(st.lists(st.sampled_from(list(ExemptionCategory)), max_size=4, unique=True))
    out = []
    for cat in cats:
        fuels = draw(st.lists(st.sampled_from(list(FuelType)), max_size=2, unique=True))
        out.append(
            Exemption(
                category=cat,
                scopes=draw(subset(list(Scope))),
                min_stage=draw(optional(st.sampled_from(REAL_STAGES))),
                fuel_min_stage=tuple((f, draw(st.sampled_from(REAL_STAGES))) for f in fuels),
                description=draw(text),
                source=draw(text),
                confidence=draw(optional(st.sampled_from(["CONFIRMED", "UNCONFIRMED"]))),
            )
        )
    return tuple(out)


settings = st.builds(
    PolicySettings,
    default_effect=st.sampled_from(list(Verdict)),
    unknown_vehicle=st.sampled_from([Verdict.DENY, Verdict.REVIEW]),
    unreadable_plate=st.sampled_from([Verdict.DENY, Verdict.REVIEW]),
    invalid_plate=st.sampled_from([Verdict.DENY, Verdict.REVIEW]),
    low_confidence=st.sampled_from([Verdict.DENY, Verdict.REVIEW]),
    min_confidence=st.floats(0, 1),
    phev_is_clean=st.booleans(),
    trust_nev_plate=st.booleans(),
    unregistered_category=st.sampled_from(list(VehicleCategory)),
    booking_required_for=subset(list(VehicleCategory), min_size=0),
    booking_effect=st.sampled_from(list(Verdict)),
    infer_stage=st.booleans(),
    utc_offset_minutes=st.integers(-720, 840),
)


@st.composite
def policies(draw: st.DrawFn, with_exemptions: bool = True, sparse: bool = False) -> Policy:
    return Policy(
        id=draw(st.text(min_size=1, max_size=8).filter(str.strip)),
        version=draw(st.text(min_size=1, max_size=8).filter(str.strip)),
        name=draw(text),
        description=draw(text),
        source=draw(text),
        settings=draw(settings),
        baseline=draw(rule_sets("base", sparse=sparse)),
        yellow=draw(rule_sets("yellow", sparse=sparse)),
        orange=draw(rule_sets("orange", sparse=sparse)),
        red=draw(rule_sets("red", sparse=sparse)),
        exemptions=draw(exemptions()) if with_exemptions else (),
    )
