"""A realistic mix of what gate cameras read at a Chinese industrial plant.

Trucks dominate (yellow plates, trailers 挂), new-energy plates are 8 characters, and a real
lane also sees malformed reads and "_无_" (no plate): the demo and the daemon tests must meet
all of them (domain.md §3.1 formats; software.md §5.3 "_无_").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from saas.compliance import PLATE_PROVINCES, PlateColor

SERIAL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36-2018: never I or O
DIGITS = "0123456789"
NEV_BEV = "ABCDE"
NEV_NON_BEV = "FGHJK"
UNREADABLE = "_无_"

# category -> weight; the sum need not be 100.
DEFAULT_MIX: dict[str, float] = {
    "ordinary_blue": 20,
    "ordinary_yellow": 40,
    "nev_small": 10,
    "nev_large": 5,
    "trailer": 10,
    "malformed": 7,
    "unreadable": 8,
}


@dataclass(frozen=True, slots=True)
class SimulatedPlate:
    category: str
    text: str
    color: PlateColor | None


def _serial(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(SERIAL_LETTERS + DIGITS) for _ in range(n))


def _province(rng: random.Random) -> str:
    return rng.choice(sorted(PLATE_PROVINCES))


def make_plate(rng: random.Random, category: str) -> SimulatedPlate:
    prov = _province(rng)
    auth = rng.choice(SERIAL_LETTERS)
    if category == "ordinary_blue":
        return SimulatedPlate(category, prov + auth + _serial(rng, 5), PlateColor.BLUE)
    if category == "ordinary_yellow":
        return SimulatedPlate(category, prov + auth + _serial(rng, 5), PlateColor.YELLOW)
    if category == "nev_small":
        serial = rng.choice(NEV_BEV + NEV_NON_BEV) + rng.choice(SERIAL_LETTERS + DIGITS)
        serial += "".join(rng.choice(DIGITS) for _ in range(4))
        return SimulatedPlate(category, prov + auth + serial, PlateColor.GREEN)
    if category == "nev_large":
        serial = "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice(NEV_BEV + NEV_NON_BEV)
        return SimulatedPlate(category, prov + auth + serial, PlateColor.YELLOW_GREEN)
    if category == "trailer":
        return SimulatedPlate(category, prov + auth + _serial(rng, 4) + "挂", PlateColor.YELLOW)
    if category == "malformed":
        broken = rng.choice(
            [
                "X" + auth + _serial(rng, 5),  # not a province
                prov + auth + _serial(rng, 3),  # too short
                prov + auth + "IO" + _serial(rng, 3),  # forbidden letters
                prov + "1" + _serial(rng, 5),  # digit as issuing authority
            ]
        )
        return SimulatedPlate(category, broken, rng.choice([PlateColor.BLUE, PlateColor.YELLOW]))
    if category == "unreadable":
        return SimulatedPlate(category, UNREADABLE, None)
    raise ValueError(f"unknown plate category {category!r}")


class PlateMix:
    """Draws plates with the given category weights; seeded for reproducible demos."""

    def __init__(self, seed: int | None = None, mix: dict[str, float] | None = None) -> None:
        self.rng = random.Random(seed)
        self.mix = dict(mix or DEFAULT_MIX)
        for category in self.mix:
            make_plate(random.Random(0), category)  # validates the names up front

    def draw(self) -> SimulatedPlate:
        categories = list(self.mix)
        category = self.rng.choices(categories, weights=[self.mix[c] for c in categories])[0]
        return make_plate(self.rng, category)
