"""Several questions in one message: splitting (core/questions.py) and combining the
questions' parses (addons/understanding.py), without a model."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from addons.understanding import MAX_TOPICS, TOPIC_ENTITY, combine, honest_about
from core.questions import is_context, split_questions


@pytest.mark.parametrize(
    "text, parts",
    [
        (
            "how long is a session, what does it cost, and does insurance help?",
            ["how long is a session", "what does it cost", "does insurance help?"],
        ),
        (
            "How much does it cost? Also is it covered by insurance? And can I do it at home?",
            ["How much does it cost?", "Also is it covered by insurance?", "And can I do it at home?"],
        ),
        ("is it safe and does it work", ["is it safe", "does it work"]),
        ("what is it\nwhere can I buy one", ["what is it", "where can I buy one"]),
        (
            "pls answer 1) how long does it take 2) what does it cost 3) is it covered",
            ["pls answer how long does it take", "what does it cost", "is it covered"],
        ),
        ("two things: (1) is it safe (2) can kids use it", ["two things: is it safe", "can kids use it"]),
        # a number that ends a sentence is not a list
        (
            "I paid 50. 2 sessions so far, when will it work?",
            ["I paid 50.", "2 sessions so far", "when will it work?"],
        ),
        ("thanks! how much is it?", ["thanks! how much is it?"]),
        # terse questions, each asked with its own question mark
        ("safe? works? cost?", ["safe?", "works?", "cost?"]),
        # a rephrasing of the question before is the same question
        (
            "what do the minerals do to my skin? like what do the ions actually do",
            ["what do the minerals do to my skin? like what do the ions actually do"],
        ),
        (
            "how does it work? i mean what happens in the skin",
            ["how does it work? i mean what happens in the skin"],
        ),
        ("does it hurt or tingle", ["does it hurt or tingle"]),
        ("how much is it", ["how much is it"]),
        ("", []),
    ],
)
def test_split_questions(text: str, parts: List[str]) -> None:
    assert split_questions(text) == parts


def test_split_questions_is_bounded() -> None:
    text = " ".join(f"question number {i} is here?" for i in range(40))
    parts = split_questions(text)
    assert len(parts) == 6 and " ".join(parts) == text


def parse(
    intent: str, confidence: float = 0.9, entities: Optional[List[Dict[str, Any]]] = None
) -> Dict[str, Any]:
    return {"text": "t", "intent": {"name": intent, "confidence": confidence}, "entities": entities or []}


def topics(result: Dict[str, Any]) -> List[str]:
    return [result["intent"]["name"]] + [
        e["value"] for e in result["entities"] if e["entity"] == TOPIC_ENTITY
    ]


def test_several_topics_are_answered_in_the_order_asked() -> None:
    result = combine(
        parse("ask_session", 0.5), [parse("ask_session"), parse("ask_cost"), parse("ask_insurance")]
    )
    assert topics(result) == ["ask_session", "ask_cost", "ask_insurance"]


def test_at_most_three_distinct_topics() -> None:
    parts = [parse(t) for t in ("ask_cost", "ask_cost", "ask_safety", "ask_session", "ask_insurance")]
    assert topics(combine(parse("ask_cost"), parts)) == ["ask_cost", "ask_safety", "ask_session"][:MAX_TOPICS]


def test_unsure_questions_do_not_add_topics() -> None:
    whole = parse("ask_cost")
    assert combine(whole, [parse("ask_cost"), parse("ask_safety", 0.2)]) is whole


def test_not_covered_goes_last() -> None:
    result = combine(parse("ask_cost"), [parse("ask_not_covered"), parse("ask_cost")])
    assert topics(result) == ["ask_cost", "ask_not_covered"]


def test_only_the_whole_message_escalates() -> None:
    """The safety layer sees the whole message (all its questions, and the context that
    negates one); a question cut from it never escalates on its own."""
    whole = parse("ask_cost")
    result = combine(whole, [parse("report_risk", 1.0), parse("ask_cost")])
    assert result["intent"]["name"] == "ask_cost"


def test_an_escalated_whole_message_stays_escalated() -> None:
    whole = parse("report_emergency", 1.0)
    assert combine(whole, [parse("ask_cost"), parse("ask_session")]) is whole


def test_a_greeting_around_one_question_is_answered_as_that_question() -> None:
    result = combine(parse("greet"), [parse("greet"), parse("ask_cost", 0.8)])
    assert topics(result) == ["ask_cost"]


def test_context_that_reads_as_not_covered_is_not_a_question() -> None:
    """ "No implants, no pregnancy. Does it work on feet?": the statement is context."""
    whole = parse("ask_not_covered", 0.97)
    result = combine(
        whole,
        [parse("ask_not_covered", 0.95), parse("ask_who_benefits", 0.9)],
        ["No implants at all, nothing like that.", "does it work on my feet?"],
    )
    assert topics(result) == ["ask_who_benefits"]


def test_a_statement_beside_a_question_adds_no_topic() -> None:
    """ "Healthy 19 yo, no heart problems, nothing implanted. Does the current hurt?": the
    denials read as "who should not use it", but only the question is asked."""
    result = combine(
        parse("ask_contraindications", 0.7),
        [parse("ask_contraindications", 0.9), parse("ask_side_effects", 0.85)],
        ["healthy 19 yo, no heart problems, nothing implanted.", "does the current hurt at all?"],
    )
    assert topics(result) == ["ask_side_effects"]


def test_a_statement_that_asks_still_counts() -> None:
    result = combine(
        parse("ask_cost", 0.7),
        [parse("ask_cost", 0.9), parse("ask_safety", 0.9)],
        ["I'd like to know the price.", "Also is it safe?"],
    )
    assert topics(result) == ["ask_cost", "ask_safety"]


def test_a_statement_alone_keeps_the_whole_parse() -> None:
    whole = parse("ask_who_benefits", 0.8)
    result = combine(
        whole, [parse("ask_who_benefits", 0.9), parse("greet", 0.9)], ["I'm 23 with sweaty feet.", "hi there"]
    )
    assert result is whole


def test_a_not_covered_set_aside_from_a_general_risk_is_not_sure() -> None:
    """ "(1) generally, can people with pacemakers use this? (2) how long is a session?":
    the safety layer set the classifier's risk guess aside, and rescaled "not covered"
    to 0.98; the two questions are still answered."""
    whole = parse("ask_not_covered", 0.98)
    whole["intent_ranking"] = [whole["intent"], {"name": "report_risk", "confidence": 0.99}]
    result = combine(
        whole,
        [parse("nlu_fallback", 0.25), parse("ask_contraindications", 0.81), parse("ask_session", 0.83)],
        ["two questions please", "can people with pacemakers use this?", "how long is a session?"],
    )
    assert topics(result) == ["ask_contraindications", "ask_session"]


def test_a_whole_message_read_as_a_topic_no_question_asks_takes_the_question_asked() -> None:
    result = combine(
        parse("ask_session", 0.77),
        [parse("ask_who_benefits", 0.56), parse("ask_effectiveness", 0.99), parse("thank", 0.88)],
        ["is it suitable for the underarms", "what proportion of patients respond to it.", "Thanks."],
    )
    assert topics(result) == ["ask_effectiveness"]
    # the whole's topic among the questions: the whole message stands
    whole = parse("ask_session", 0.77)
    assert combine(whole, [parse("ask_session", 0.6), parse("ask_cost", 0.9)], ["a b c", "d e f"]) is whole


def test_feedback_or_out_of_scope_as_a_whole_gives_way_to_the_question_asked() -> None:
    questions = ["I'm not pregnant, so that's not an issue.", "does the session hurt though?"]
    result = combine(
        parse("rate_unhelpful", 0.44), [parse("rate_unhelpful", 0.77), parse("ask_side_effects")], questions
    )
    assert topics(result) == ["ask_side_effects"]
    # out of scope stays so when nothing in the message is about the treatment
    whole = parse("out_of_scope", 0.7)
    car = ["my car broke down again", "how much does it cost"]
    assert combine(whole, [parse("out_of_scope"), parse("ask_cost", 0.95)], car) is whole


def test_a_not_covered_question_still_counts_beside_an_faq_one() -> None:
    result = combine(
        parse("ask_cost", 0.6),
        [parse("ask_cost", 0.95), parse("ask_not_covered", 0.9)],
        ["how much is a course", "and which brand of machine is best?"],
    )
    assert topics(result) == ["ask_cost", "ask_not_covered"]


def test_a_sure_not_covered_message_keeps_only_sure_faq_parts() -> None:
    """ "Lasers or surgery, which should I pick for my palms?": the second part, cut from
    the first, only looks like "who is it for"."""
    whole = parse("ask_not_covered", 0.99)
    questions = ["Lasers or surgery", "which should I pick for my palms?"]
    assert (
        combine(whole, [parse("ask_not_covered", 0.97), parse("ask_who_benefits", 0.8)], questions) is whole
    )
    # a sure FAQ question that names the treatment keeps its answer
    named = ["Lasers or surgery", "and how long is an iontophoresis session?"]
    sure = combine(whole, [parse("ask_not_covered", 0.97), parse("ask_session", 0.96)], named)
    assert topics(sure) == ["ask_session", "ask_not_covered"]


@pytest.mark.parametrize(
    "part, context",
    [
        ("so how much is it", False),
        ("ok and does insurance pay", False),
        ("Lasers or surgery", False),
        ("I've got one more question: price?", False),
        ("No pacemaker, no metal, not pregnant.", True),
        ("I came off my tablets a year ago with my GP", True),
        ("my GP already ruled out anything serious", True),
        ("healthy 19 yo, no heart problems, nothing implanted.", True),
        ("I'd like to know the price.", False),
        ("I'm curious how it works.", False),
    ],
)
def test_is_context(part: str, context: bool) -> None:
    assert is_context(part) is context


class _Processor:
    """Stands in for Rasa's MessageProcessor: a fixed parse per text."""

    def __init__(self, parses: Dict[str, Dict[str, Any]]) -> None:
        self.parses = parses

    async def parse_message(self, message: Any) -> Dict[str, Any]:
        return self.parses[message.text]


class _Agent:
    def __init__(self, parses: Dict[str, Dict[str, Any]]) -> None:
        self.processor = _Processor(parses)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("are electric toothbrushes better than manual ones", "out_of_scope"),
        ("which brand of machine is best", "ask_not_covered"),
        ("should I do it every day", "ask_not_covered"),
    ],
)
def test_not_covered_without_a_word_of_the_domain_is_out_of_scope(text: str, expected: str) -> None:
    import asyncio

    from addons.understanding import understand

    result = asyncio.run(understand(_Agent({text: parse("ask_not_covered", 0.8)}), text))
    assert result is not None and result["intent"]["name"] == expected
    if expected == "out_of_scope":
        assert result["intent_ranking"][0]["name"] == expected


@pytest.mark.parametrize("text", ["🙂🙂🙂", "???", "👍"])
def test_a_message_with_no_word_asks_to_rephrase(text: str) -> None:
    import asyncio

    from addons.understanding import understand

    result = asyncio.run(understand(_Agent({text: parse("greet", 0.7)}), text))
    assert result is not None and result["intent"]["name"] == "nlu_fallback"
    escalated = asyncio.run(understand(_Agent({text: parse("report_emergency", 1.0)}), text))
    assert escalated is not None and escalated["intent"]["name"] == "report_emergency"


@pytest.mark.parametrize("intent", ["out_of_scope", "nlu_fallback", "ask_not_covered"])
def test_a_school_age_child_placed_nowhere_is_asked_who_it_is_for(intent: str) -> None:
    import asyncio

    from addons.understanding import understand

    text = "is it ok for my son? hes 13 and mortified about it"
    child = [{"entity": "safety_caution", "value": "child"}]
    parses = {
        text: parse(intent, 0.6, child),
        "is it ok for my son?": parse(intent),
        "hes 13 and mortified about it": parse(intent),
    }
    result = asyncio.run(understand(_Agent(parses), text))
    assert result is not None and result["intent"]["name"] == "ask_who_benefits"
    assert result["entities"] == child
    # without the child caution, the parse stands
    plain = {**parses, text: parse(intent, 0.6)}
    result = asyncio.run(understand(_Agent(plain), text))
    assert result is not None and result["intent"]["name"] != "ask_who_benefits"


@pytest.mark.parametrize(
    "question",
    [
        "how long do botox injections for the armpits last",
        "is ETS surgery worth the risk",
        "can i put a pinch of salt in the trays",
        "distilled or tap water, which one",
        "which machine should i get, hidrex or another one",
        "how do i clean the electrodes after a session",
        "can i take my device in hand luggage",
        "is pulsed mode gentler than dc",
    ],
)
def test_a_question_naming_what_no_answer_covers_is_not_covered(question: str) -> None:
    result = honest_about(parse("ask_session", 0.97), question)
    assert result["intent"] == {"name": "ask_not_covered", "confidence": 1.0}


@pytest.mark.parametrize(
    "parsed, question, context",
    [
        # a question the knowledge file answers
        (parse("ask_cost"), "how much is a home machine", False),
        (parse("ask_vs_antiperspirants"), "is it better than strong antiperspirants", False),
        # a part that only tells
        (parse("ask_effectiveness"), "I tried botox last year", True),
        # not an FAQ intent: left to the other checks
        (parse("out_of_scope"), "best beach for a holiday", False),
        (parse("report_risk"), "i had surgery and have screws in my wrist", False),
    ],
)
def test_other_questions_keep_their_parse(parsed: Dict[str, Any], question: str, context: bool) -> None:
    assert honest_about(parsed, question, context) is parsed


@pytest.mark.parametrize(
    "questions, part_intents, expected",
    [
        # the question after the other treatment is about that treatment
        (
            ["how long does Botox last", "and does it hurt?"],
            ["ask_not_covered", "ask_side_effects"],
            ["ask_not_covered"],
        ),
        (
            ["is ETS surgery worth it", "are there long-term risks?"],
            ["ask_not_covered", "ask_safety"],
            ["ask_not_covered"],
        ),
        # ... unless it names the treatment
        (
            ["how long does Botox last", "and how long is an iontophoresis session?"],
            ["ask_not_covered", "ask_session"],
            ["ask_session", "ask_not_covered"],
        ),
        # a question before the subject keeps its topic
        (
            ["does it hurt", "and is Botox better?"],
            ["ask_side_effects", "ask_not_covered"],
            ["ask_side_effects", "ask_not_covered"],
        ),
    ],
)
def test_a_question_after_a_subject_no_answer_covers_is_about_that_subject(
    questions: List[str], part_intents: List[str], expected: List[str]
) -> None:
    whole = parse("ask_side_effects", 0.7)
    result = combine(whole, [parse(intent, 0.95) for intent in part_intents], questions)
    assert topics(result) == expected


@pytest.mark.parametrize(
    "text",
    [
        "which salt pellets for the water softener are best",
        "is salt or vinegar better for descaling a kettle",
    ],
)
def test_a_not_covered_subject_in_a_message_about_something_else_is_out_of_scope(text: str) -> None:
    import asyncio

    from addons.understanding import understand

    result = asyncio.run(understand(_Agent({text: parse("ask_how_it_works", 0.8)}), text))
    assert result is not None and result["intent"]["name"] == "out_of_scope"


def test_a_story_that_reads_as_not_covered_does_not_outvote_the_question() -> None:
    """ "is it painful? I have zero pain tolerance, that's why I turned Botox down": the
    whole message reads as "not covered" (Botox), the only question asks about pain."""
    result = combine(
        parse("ask_not_covered", 0.4),
        [parse("ask_side_effects", 0.92), parse("ask_not_covered", 0.45)],
        ["is it painful?", "I have zero pain tolerance, that's why I turned Botox down."],
    )
    assert topics(result) == ["ask_side_effects"]


@pytest.mark.parametrize(
    "text, parts",
    [
        # a list numbered with bare digits, and "+" between questions
        (
            "3 quick ones. 1 how does it work 2 whats a session like 3 do you take insurance",
            ["3 quick ones.", "how does it work", "whats a session like", "do you take insurance"],
        ),
        ("how much is it + does insurance pay?", ["how much is it", "does insurance pay?"]),
        ("is it safe & how long is a session", ["is it safe", "how long is a session"]),
        # numbers that number no list stay in their sentence
        ("is it ok to do it 3 times a week", ["is it ok to do it 3 times a week"]),
        ("question number 1 is this one", ["question number 1 is this one"]),
    ],
)
def test_bare_numbered_lists_and_plus_signs_split(text: str, parts: List[str]) -> None:
    assert split_questions(text) == parts


@pytest.mark.parametrize(
    "text, expected",
    [
        # about sweating, though no answer covers it: honest, not out of scope
        ("which trainers keep sweaty feet driest?", "ask_not_covered"),
        ("how do I stop pit stains ruining my shirts", "ask_not_covered"),
        # sweating about something else, a sweater, a joke: out of scope
        ("im sweating buckets over my maths homework", "out_of_scope"),
        ("where do you buy a good sweatshirt", "out_of_scope"),
        ("tell me a joke about sweating", "out_of_scope"),
    ],
)
def test_out_of_scope_about_sweating_is_not_covered(text: str, expected: str) -> None:
    import asyncio

    from addons.understanding import understand

    result = asyncio.run(understand(_Agent({text: parse("out_of_scope", 0.8)}), text))
    assert result is not None and result["intent"]["name"] == expected


def test_a_short_question_after_a_story_naming_a_subject_asks_about_it() -> None:
    """ "someone told me to put bicarb in the trays. how much?": the amount of bicarb."""
    result = combine(
        parse("ask_cost", 0.6),
        [parse("ask_not_covered", 0.9), parse("ask_cost", 0.9)],
        ["My neighbour told me to put bicarb in the trays.", "how much?"],
    )
    assert topics(result) == ["ask_not_covered"]


def test_a_question_that_names_its_own_topic_after_such_a_story_is_answered() -> None:
    result = combine(
        parse("ask_cost", 0.6),
        [parse("ask_not_covered", 0.9), parse("ask_cost", 0.9)],
        ["My neighbour told me to put bicarb in the trays.", "how much does a course of sessions cost?"],
    )
    assert topics(result) == ["ask_cost"]


def test_the_whole_messages_sure_topic_stands_when_its_only_question_reads_as_not_covered() -> None:
    """ "My claim was turned down as cosmetic. What can I do now?" """
    result = combine(
        parse("ask_insurance", 0.95),
        [parse("ask_insurance", 0.9), parse("ask_not_covered", 0.8)],
        ["My claim was turned down as cosmetic.", "What can I do now?"],
    )
    assert topics(result) == ["ask_insurance"]


@pytest.mark.parametrize(
    "question, subject",
    [
        ("should I take my wedding ring off first?", "jewellery"),
        ("are piercings a problem in the water?", "jewellery"),
        ("is robinul stronger than this?", "other_treatment"),
        ("the unit died after a year, is it under warranty?", "kit"),
        ("can I carry on the sessions at home?", None),
        ("can I ring you to book?", None),
    ],
)
def test_subjects_no_answer_covers(question: str, subject: Optional[str]) -> None:
    from core.domain import not_covered_subject

    assert not_covered_subject(question) == subject
