"""core/domain.py: whether a message is about sweating, the treatment or the clinic."""

from __future__ import annotations

import pytest

from core.domain import mentions_domain


@pytest.mark.parametrize(
    "text",
    [
        "which brand of machine is best?",
        "should the trays be cleaned with vinegar",
        "is botox better for my pits",
        "do I need distilled water",
        "can you treat a sweaty scalp",
        "does the NHS pay for it",
        "my GP wants me to try it first",
        "how many times a week should i do it",
        "should I switch the polarity halfway?",
    ],
)
def test_domain_questions(text: str) -> None:
    assert mentions_domain(text)


@pytest.mark.parametrize(
    "text",
    [
        "are electric toothbrushes better than manual ones",
        "any tips for a cheaper phone contract?",
        "best pizza place near the station",
        "who won the football last night",
        "recommend a good book for the beach",
        "what should I cook tonight",
        "is the united states worth visiting",
        "",
    ],
)
def test_chatter_outside_the_domain(text: str) -> None:
    assert not mentions_domain(text)
