"""Exact money arithmetic for billing: ``Decimal`` amounts in CNY, rounded half up to 0.01 at
the documented points (docs/billing.md, "Invoice arithmetic"), and the 人民币大写 form of an
amount printed on the bill. Pure: no I/O, no floats anywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

CENT = Decimal("0.01")
VAT_RATE = Decimal("0.06")  # 增值税 6 %: 信息技术服务 / 现代服务 (财税〔2016〕36号)


class NotMoney(TypeError):
    """A float (or another non-exact number) reached money arithmetic."""


def _exact(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise NotMoney(f"money must be Decimal or int, got {type(value).__name__}")
    return Decimal(value)


def round_half_up(value: Decimal | int) -> Decimal:
    """To 0.01 CNY, ties away from zero (``ROUND_HALF_UP``): 0.005 → 0.01, -0.005 → -0.01."""
    return _exact(value).quantize(CENT, rounding=ROUND_HALF_UP)


def round_fraction(value: Fraction) -> Decimal:
    """An exact rational amount to 0.01 CNY, ties away from zero, without an inexact division
    on the way (``fee × days ÷ days_in_month`` is a rational number, not a decimal)."""
    cents = value * 100
    sign = -1 if cents < 0 else 1
    magnitude = abs(cents)
    whole = magnitude.numerator * 2 + magnitude.denominator
    rounded = whole // (magnitude.denominator * 2)  # floor(|x| + 1/2)
    return (Decimal(sign * rounded) / 100).quantize(CENT)


def prorate(amount: Decimal, days: int, days_in_period: int) -> Decimal:
    """``amount × days ÷ days_in_period`` rounded half up once (a whole period is the amount
    itself, exactly)."""
    if not 0 <= days <= days_in_period or days_in_period <= 0:
        raise ValueError(f"days {days} outside 0…{days_in_period}")
    if days == days_in_period:
        return round_half_up(amount)
    return round_fraction(Fraction(_exact(amount)) * days / days_in_period)


def vat_of(subtotal: Decimal, rate: Decimal = VAT_RATE) -> Decimal:
    """VAT on the invoice subtotal, rounded half up once (not per line)."""
    return round_half_up(_exact(subtotal) * _exact(rate))


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return round_half_up(_exact(amount) * _exact(percent) / 100)


def parse_money(text: str) -> Decimal:
    """A form value in CNY (``1234.5``, ``1,234.50``) → Decimal with 2 places; ValueError on
    junk, more than 2 decimals, NaN or infinity."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value != value.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError(f"not an amount with at most 2 decimals: {text!r}")
    return value.quantize(CENT)


# --- 人民币大写 ---------------------------------------------------------------------------------
# 《支付结算办法》附件《正确填写票据和结算凭证的基本规定》: 壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分零整;
# "整" after 元 when there are no 角/分; a zero between non-zero digits is written 零 once.

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_GROUP_UNITS = ("", "万", "亿", "万亿")


def _group_upper(group: int) -> str:
    """0 < group < 10000 → 仟佰拾 digits; inner zeros collapse to one 零, no trailing 零."""
    out = ""
    pending_zero = False
    for place, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = group // place % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out += "零"
            pending_zero = False
        out += _DIGITS[digit] + unit
    return out


def _integer_upper(number: int) -> str:
    groups: list[int] = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    if len(groups) > len(_GROUP_UNITS):
        raise ValueError("amount too large for 人民币大写")
    out = ""
    gap = False  # a whole group of zeros since the last written group
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            gap = bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"
        out += _group_upper(group) + _GROUP_UNITS[index]
        gap = False
    return out


def rmb_uppercase(amount: Decimal) -> str:
    """``Decimal("1234.56")`` → ``壹仟贰佰叁拾肆元伍角陆分``; ``100`` → ``壹佰元整``;
    ``1000.05`` → ``壹仟元零伍分``; ``0`` → ``零元整``; negative amounts start with ``负``."""
    value = round_half_up(amount)
    sign = "负" if value < 0 else ""
    cents = int(abs(value) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    if cents == 0:
        return "零元整"
    out = _integer_upper(yuan) + "元" if yuan else ""
    if jiao == 0 and fen == 0:
        return sign + out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    if fen:
        out += _DIGITS[fen] + "分"
    return sign + out
