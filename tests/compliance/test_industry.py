from __future__ import annotations

from saas.compliance import Industry, Rating


def test_thirty_nine_rated_industries_plus_other() -> None:
    assert len(Industry) == 40
    assert sum(1 for i in Industry if i.rated) == 39
    assert not Industry.OTHER.rated


def test_chinese_labels() -> None:
    assert Industry.COKING.label_zh == "焦化"
    assert Industry.STEEL_LONG.label_zh == "长流程联合钢铁"
    assert len({i.label_zh for i in Industry}) == len(Industry)
    assert Rating.B_MINUS.label_zh == "B-级"
    assert Rating.LEADING.label_zh == "引领性"
    assert all(r.label_zh for r in Rating)


def test_rating_values_are_the_340_spellings() -> None:
    assert [r.value for r in Rating][:5] == ["A", "B", "B-", "C", "D"]
    assert Rating("B-") is Rating.B_MINUS
