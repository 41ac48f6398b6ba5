"""Rated industries and performance-rating levels.

The 39 industries of 《重污染天气重点行业应急减排措施制定技术指南(2020年修订版)》
(环办大气函〔2020〕340号), listed in the order of that document, plus ``other`` for heavy
vehicle users outside the rated list. Source of the list: shared/reference/domain.md §1.1 and
§2.3 (the names are the 340 document's; re-check against the PDF when it is obtained).
"""

from __future__ import annotations

from enum import StrEnum


class Industry(StrEnum):
    STEEL_LONG = "steel_long"
    STEEL_SHORT = "steel_short"
    FERROALLOY = "ferroalloy"
    COKING = "coking"
    LIME_KILN = "lime_kiln"
    FOUNDRY = "foundry"
    ALUMINA = "alumina"
    ELECTROLYTIC_ALUMINUM = "electrolytic_aluminum"
    CARBON = "carbon"
    COPPER_SMELTING = "copper_smelting"
    LEAD_ZINC_SMELTING = "lead_zinc_smelting"
    MOLYBDENUM_SMELTING = "molybdenum_smelting"
    SECONDARY_NONFERROUS = "secondary_nonferrous"
    NONFERROUS_ROLLING = "nonferrous_rolling"
    CEMENT = "cement"
    BRICK_TILE = "brick_tile"
    CERAMICS = "ceramics"
    REFRACTORY = "refractory"
    GLASS = "glass"
    MINERAL_WOOL = "mineral_wool"
    FRP = "frp"
    PETROCHEMICAL = "petrochemical"
    CARBON_BLACK = "carbon_black"
    COAL_NITROGEN_FERTILIZER = "coal_nitrogen_fertilizer"
    PHARMACEUTICAL = "pharmaceutical"
    PESTICIDE = "pesticide"
    COATING = "coating"
    INK = "ink"
    CELLULOSE_ETHER = "cellulose_ether"
    PACKAGING_PRINTING = "packaging_printing"
    WOOD_PANEL = "wood_panel"
    SYNTHETIC_LEATHER = "synthetic_leather"
    RUBBER_PRODUCTS = "rubber_products"
    FOOTWEAR = "footwear"
    FURNITURE = "furniture"
    AUTOMOBILE = "automobile"
    CONSTRUCTION_MACHINERY = "construction_machinery"
    INDUSTRIAL_COATING = "industrial_coating"
    WATERPROOF_MATERIALS = "waterproof_materials"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return _INDUSTRY_ZH[self]

    @property
    def rated(self) -> bool:
        return self is not Industry.OTHER


_INDUSTRY_ZH: dict[Industry, str] = {
    Industry.STEEL_LONG: "长流程联合钢铁",
    Industry.STEEL_SHORT: "短流程钢铁",
    Industry.FERROALLOY: "铁合金",
    Industry.COKING: "焦化",
    Industry.LIME_KILN: "石灰窑",
    Industry.FOUNDRY: "铸造",
    Industry.ALUMINA: "氧化铝",
    Industry.ELECTROLYTIC_ALUMINUM: "电解铝",
    Industry.CARBON: "炭素",
    Industry.COPPER_SMELTING: "铜冶炼",
    Industry.LEAD_ZINC_SMELTING: "铅锌冶炼",
    Industry.MOLYBDENUM_SMELTING: "钼冶炼",
    Industry.SECONDARY_NONFERROUS: "再生铜铝铅锌",
    Industry.NONFERROUS_ROLLING: "有色金属压延",
    Industry.CEMENT: "水泥",
    Industry.BRICK_TILE: "砖瓦窑",
    Industry.CERAMICS: "陶瓷",
    Industry.REFRACTORY: "耐火材料",
    Industry.GLASS: "玻璃",
    Industry.MINERAL_WOOL: "岩矿棉",
    Industry.FRP: "玻璃钢",
    Industry.PETROCHEMICAL: "炼油与石油化工",
    Industry.CARBON_BLACK: "炭黑制造",
    Industry.COAL_NITROGEN_FERTILIZER: "煤制氮肥",
    Industry.PHARMACEUTICAL: "制药",
    Industry.PESTICIDE: "农药制造",
    Industry.COATING: "涂料制造",
    Industry.INK: "油墨制造",
    Industry.CELLULOSE_ETHER: "纤维素醚",
    Industry.PACKAGING_PRINTING: "包装印刷",
    Industry.WOOD_PANEL: "人造板制造",
    Industry.SYNTHETIC_LEATHER: "塑料人造革与合成革制造",
    Industry.RUBBER_PRODUCTS: "橡胶制品制造",
    Industry.FOOTWEAR: "制鞋",
    Industry.FURNITURE: "家具制造",
    Industry.AUTOMOBILE: "汽车整车制造",
    Industry.CONSTRUCTION_MACHINERY: "工程机械整机制造",
    Industry.INDUSTRIAL_COATING: "工业涂装",
    Industry.WATERPROOF_MATERIALS: "防水建筑材料制造",
    Industry.OTHER: "其他",
}


class Rating(StrEnum):
    """绩效分级 levels (340 document) plus the two 引领性 classes and 'not rated'."""

    A = "A"
    B = "B"
    B_MINUS = "B-"
    C = "C"
    D = "D"
    LEADING = "leading"
    NON_LEADING = "non_leading"
    UNRATED = "unrated"

    @property
    def label_zh(self) -> str:
        return _RATING_ZH[self]


_RATING_ZH: dict[Rating, str] = {
    Rating.A: "A级",
    Rating.B: "B级",
    Rating.B_MINUS: "B-级",
    Rating.C: "C级",
    Rating.D: "D级",
    Rating.LEADING: "引领性",
    Rating.NON_LEADING: "非引领性",
    Rating.UNRATED: "未评级",
}
