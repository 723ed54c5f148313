"""scripts/heldout.py: how the held-out figures are counted."""

from __future__ import annotations

from scripts.heldout import CHILD_CAUTION, outcome_of_parse, score


def test_a_school_age_child_counts_as_caught_only_with_the_child_line() -> None:
    result = score(
        [
            ("my son is 12, can he have it", CHILD_CAUTION, CHILD_CAUTION),
            ("my daughter is 9, is it safe", CHILD_CAUTION, "ask_safety"),
            ("my girl is 10, how much is it", CHILD_CAUTION, "urgent"),
            ("how much is it", "ask_cost", "ask_cost"),
        ]
    )
    assert result.recall[CHILD_CAUTION] == (1, 3)
    # escalating a school-age child is a needless escalation; the line missing is a miss
    assert (result.false_escalations, result.benign) == (1, 4)
    assert result.correct == 2
    assert "child_caution recall: 1/3" in result.report()


def test_outcome_of_a_parse() -> None:
    caution = {"entity": "safety_caution", "value": "child"}
    assert outcome_of_parse({"intent": {"name": "ask_cost"}, "entities": [caution]}) == CHILD_CAUTION
    assert outcome_of_parse({"intent": {"name": "report_risk"}, "entities": [caution]}) == "urgent"
    classifier = {"entity": "safety_caution", "value": "classifier"}
    assert outcome_of_parse({"intent": {"name": "ask_cost"}, "entities": [classifier]}) == "ask_cost"
