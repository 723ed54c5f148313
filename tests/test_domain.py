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
        # everyday words of the domain, with nothing else they could be about
        "the battery on my machine dies after two sessions",
        "how much does it cost",
        "can i take the machine on a flight",
        "does insurance cover the current treatment?",
        "can I fill the trays from my water softener tap?",
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
        # a domain word inside an everyday compound, or about something else named
        "how do you get limescale off a white shower tray without scratching it",
        "my phone is overheating every time i charge it, is that bad for the battery?",
        "how long does it take to renew a passport at the moment?",
        "how much does it cost to fix my car",
        "the washing machine is making a banging noise again",
        "my gaming session lasted all night",
        # a current in the sea, insurance for something else, salt for a water softener
        "what do you do if a rip current pulls you out, swim sideways?",
        "how much is travel insurance for a weekend in Spain",
        "block salt or tablet salt for my water softener?",
        "how do I doctor up a jar of supermarket curry sauce",
        "my orchid's leaves are going yellow, am I giving it too much water?",
        "",
    ],
)
def test_chatter_outside_the_domain(text: str) -> None:
    assert not mentions_domain(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        # the machine's settings and modes are the domain
        ("what's the difference between the DC and the pulsed setting on mine?", True),
        ("which setting should I start on", True),
        # a film on the trays is limescale, not a movie
        ("how do you clean the trays? mine have a white crusty film on them now", True),
        ("is it a good film?", False),
        ("what settings on my phone save battery", False),
    ],
)
def test_settings_and_a_film_on_the_kit(text: str, expected: bool) -> None:
    assert mentions_domain(text) is expected
