"""Enterprise and administrative identifiers: 统一社会信用代码 (GB 32100-2015) and
行政区划代码 (GB/T 2260).

Validators return a list of stable error codes; an empty list means valid. They never raise.
"""

from __future__ import annotations

# GB 32100-2015 §4: the 31-character code set (no I, O, Z, S, V) and the weights of the
# check character at position 18.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB/T 2260: province-level prefixes (first two digits) with the province name.
PROVINCE_PREFIXES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}


def uscc_check_char(first17: str) -> str | None:
    """The GB 32100 check character for the first 17 characters, or None if they are not
    all in the code set."""
    if len(first17) != 17 or any(c not in USCC_CHARSET for c in first17):
        return None
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def normalize_uscc(text: str) -> str:
    """Upper-case, strip spaces and convert full-width characters, as people type codes."""
    out = []
    for ch in text.strip():
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        if not ch.isspace():
            out.append(ch.upper())
    return "".join(out)


def validate_uscc(text: str) -> list[str]:
    """Validate a 统一社会信用代码. Codes: ``empty``, ``bad_length``, ``bad_character``,
    ``bad_region`` (positions 3–8 are not a GB/T 2260 code), ``bad_check_char``."""
    if not isinstance(text, str) or not text.strip():
        return ["empty"]
    code = normalize_uscc(text)
    if len(code) != 18:
        return ["bad_length"]
    if any(c not in USCC_CHARSET for c in code):
        return ["bad_character"]
    errors: list[str] = []
    if validate_region_code(code[2:8]):
        errors.append("bad_region")
    if uscc_check_char(code[:17]) != code[17]:
        errors.append("bad_check_char")
    return errors


def validate_region_code(text: str) -> list[str]:
    """Validate a 6-digit GB/T 2260 administrative division code. Codes: ``empty``,
    ``bad_format`` (not six ASCII digits), ``bad_province`` (unknown province prefix)."""
    if not isinstance(text, str) or not text.strip():
        return ["empty"]
    code = text.strip()
    if len(code) != 6 or not all("0" <= c <= "9" for c in code):
        return ["bad_format"]
    if code[:2] not in PROVINCE_PREFIXES:
        return ["bad_province"]
    return []


def region_covers(parent: str, child: str) -> bool:
    """True if region ``parent`` (a province ``130000``, city ``130200`` or district
    ``130203`` code) contains region ``child``. Trailing ``00`` pairs are wildcards."""
    if validate_region_code(parent) or validate_region_code(child):
        return False
    if parent[2:] == "0000":
        return child[:2] == parent[:2]
    if parent[4:] == "00":
        return child[:4] == parent[:4]
    return child == parent
