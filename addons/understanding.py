"""Several questions in one message: which topics a message asks about, in order.

The turn guard (``addons/guard.py``) calls :func:`understand` for every typed message
instead of letting Rasa parse it. It parses the whole message with the model (the
whole NLU pipeline, safety layer included), and, when the message holds several
questions (``core.questions.split_questions``), each question on its own:

* an escalation wins: the safety layer checks the whole message, so a risk in any of
  its questions escalates it, with the whole message's context for negation ("is it
  safe with a pacemaker? I don't have one"); the questions' own parses never
  escalate on their own, as a question cut from its context could;
* otherwise, when two or more questions are confidently about different FAQ topics
  (``ask_*``, the honest ``ask_not_covered`` included), the message's intent is the
  first one asked and the others travel, in order, as ``faq_topic`` entities, up to
  :data:`MAX_TOPICS` in all; ``action_answer_faq`` answers each;
* a greeting or thanks around one FAQ question ("hi! how much is it?") is answered as
  that question;
* a part that tells rather than asks (``core.questions.is_context``: "No heart problems,
  nothing implanted.", "I'm 23 with sweaty feet.") adds no topic of its own when another
  part asks one: the question asked is answered, not the topic the statement resembles;
* a question that names what no answer covers (another treatment, what goes into the
  water, a brand, the kit's parts, travel: ``core.domain.not_covered_subject``) is
  "not covered" whatever FAQ topic the classifier picked for it (:func:`honest_about`);
* a question about a school-age child (the safety layer's ``safety_caution`` "child")
  that the classifier placed nowhere (out of scope, unsure, not covered) is answered as
  "who is it for", with the child line;
* a message with no letter or digit ("🙂🙂🙂") asks to rephrase;
* a message classified out of scope that names sweating ("best socks for sweaty feet?")
  gets the honest "not covered" (``core.domain.about_sweating``);
* a message the safety layer answers in another language (its ``answer_language``
  entity, ``core/faq_languages.py``) keeps the safety layer's topics, in order;
* otherwise the whole message's parse stands.

The result is handed to Rasa as the message's ``parse_data``, so Rasa does not parse it
again.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Text

from core.domain import about_sweating, mentions_domain, names_the_treatment, not_covered_subject
from core.questions import is_context, split_questions

logger = logging.getLogger(__name__)

#: At most this many topics are answered in one reply.
MAX_TOPICS = 3
#: How sure the classifier must be about a question for it to count as a topic.
MIN_PART_CONFIDENCE = 0.65
TOPIC_ENTITY = "faq_topic"
#: Set by the safety layer on a message answered in another language (core/faq_languages.py).
LANGUAGE_ENTITY = "answer_language"
NOT_COVERED = "ask_not_covered"
OUT_OF_SCOPE = "out_of_scope"
#: A whole message this surely "not covered" ...
SURE_NOT_COVERED = 0.95
#: ... gets an FAQ answer too only for a question this surely about that topic.
SURE_PART_IN_NOT_COVERED = 0.9
#: A whole message this surely about one FAQ topic keeps it when its only question, cut
#: from the story before it, reads as "not covered" ("... is there anything I can do?").
SURE_WHOLE_TOPIC = 0.9
RISK_LEVEL = {"report_emergency": 2, "report_risk": 1}
#: A letter or a digit, in any script.
_WORD = re.compile(r"[^\W_]")
#: Whole-message intents that give way to the one FAQ question the message asks: "hi! how
#: much is it?", "Not pregnant, so that's not an issue. Does it hurt though?" (read as
#: feedback as a whole), "is it worth it? does it work on feet" (out of scope as a whole).
CHITCHAT = frozenset(
    {
        "greet",
        "thank",
        "goodbye",
        "affirm",
        "deny",
        "nlu_fallback",
        "rate_helpful",
        "rate_unhelpful",
        "out_of_scope",
    }
)


#: Intents that place a message nowhere in the FAQ ...
UNPLACED = frozenset({"out_of_scope", "nlu_fallback", NOT_COVERED})
#: ... and the topic a question about a school-age child takes then.
CHILD_TOPIC = "ask_who_benefits"


def _has_child_caution(parse: Dict[Text, Any]) -> bool:
    return any(
        e.get("entity") == "safety_caution" and e.get("value") == "child" for e in parse.get("entities") or []
    )


def _intent(parse: Dict[Text, Any]) -> Text:
    return str((parse.get("intent") or {}).get("name") or "")


def _confidence(parse: Dict[Text, Any]) -> float:
    return float((parse.get("intent") or {}).get("confidence") or 0.0)


def _with_intent(parse: Dict[Text, Any], intent: Dict[Text, Any]) -> Dict[Text, Any]:
    """A copy of ``parse`` whose intent, and first ranked intent, is ``intent``
    (rasa-sdk's ``get_intent_of_latest_message`` reads the ranking)."""
    result = dict(parse)
    result["intent"] = dict(intent)
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != intent.get("name")]
    result["intent_ranking"] = [dict(intent)] + ranking
    return result


#: A question this short after a story ("... someone said to add baking soda. How much
#: exactly?") asks about what the story named.
ELLIPTIC_WORDS = 4


def _elliptic_after(questions: List[Text], told: List[bool], index: int) -> bool:
    """The part after ``index`` is a short question that names nothing of its own."""
    after = index + 1
    if after >= len(questions) or told[after]:
        return False
    question = questions[after]
    return len(question.split()) <= ELLIPTIC_WORDS and not names_the_treatment(question)


def is_topic(intent: Text) -> bool:
    """An intent answered from the knowledge file, or the honest "not covered"."""
    return intent.startswith("ask_")


def combine(
    whole: Dict[Text, Any], parts: List[Dict[Text, Any]], questions: Optional[List[Text]] = None
) -> Dict[Text, Any]:
    """The message's parse, from the whole message's and its questions' parses.

    Args:
        whole: the whole message's parse.
        parts: each question's parse.
        questions: the questions (:func:`core.questions.split_questions`), as ``parts``;
            without them, every part counts as a question.
    """
    if RISK_LEVEL.get(_intent(whole), 0) or _intent(whole) in ("other_language", "request_data_deletion"):
        return whole
    if _answered_in_language(whole):
        # answered in another language: the safety layer found its topics, in order
        return whole
    # A "not covered" the safety layer chose by setting a denied or general risk aside has
    # the risk's probability rescaled into it: not a sure one.
    demoted = any(
        r.get("name") in RISK_LEVEL and float(r.get("confidence") or 0.0) >= 0.5
        for r in whole.get("intent_ranking") or []
    )
    honest_whole = _intent(whole) == NOT_COVERED and _confidence(whole) >= SURE_NOT_COVERED and not demoted
    topics: List[Text] = []
    context_only = False
    told = [is_context(question) for question in questions] if questions else [False] * len(parts)
    asked = [
        is_topic(_intent(part)) and _confidence(part) >= MIN_PART_CONFIDENCE and not context
        for part, context in zip(parts, told, strict=True)
    ]
    # "how long does Botox last and does it hurt?": after a question about a subject no
    # answer covers, a question that does not name the treatment is about that subject
    subject_at = next(
        (
            index
            for index, part in enumerate(parts)
            if questions
            and _intent(part) == NOT_COVERED
            and (not told[index] or _elliptic_after(questions, told, index))
            and not_covered_subject(questions[index])
        ),
        None,
    )
    about_the_subject = False
    for index, (part, context) in enumerate(zip(parts, told, strict=True)):
        intent = _intent(part)
        if not is_topic(intent) or _confidence(part) < MIN_PART_CONFIDENCE or intent in topics:
            continue
        if (
            questions
            and subject_at is not None
            and index > subject_at
            and intent != NOT_COVERED
            and not names_the_treatment(questions[index])
        ):
            about_the_subject = True
            continue
        if context and (intent == NOT_COVERED or any(asked)):
            # "No pacemaker, no metal, nothing." or "I'm 23 with sweaty feet." tells, it
            # doesn't ask: the questions beside it are what to answer
            context_only = True
            continue
        if honest_whole and intent != NOT_COVERED and _confidence(part) < SURE_PART_IN_NOT_COVERED:
            # "miraDry or Botox, which one should I choose for my armpits?": the second
            # part, cut from the first, only looks like an FAQ question
            continue
        topics.append(intent)
    if len(topics) == 1 and context_only and (_intent(whole) == NOT_COVERED or is_topic(_intent(whole))):
        # the only question asked, after context that read as a topic of its own
        chosen = next(p for p in parts if _intent(p) == topics[0])
        if (
            topics[0] == NOT_COVERED
            and is_topic(_intent(whole))
            and _intent(whole) != NOT_COVERED
            and _confidence(whole) >= SURE_WHOLE_TOPIC
            and not any(not_covered_subject(q) for q in questions or [])
        ):
            # "my insurer knocked it back as cosmetic. is there anything I can do?": the
            # question leans on the story for its topic, and the whole names it surely
            return whole
        return _with_intent(whole, chosen["intent"])
    if topics in ([NOT_COVERED], []) and about_the_subject and subject_at is not None:
        # (none: the subject was named in a story, the short question after it asks about it)
        return whole if _intent(whole) == NOT_COVERED else _with_intent(whole, parts[subject_at]["intent"])
    if len(topics) >= 2:
        topics = topics[:MAX_TOPICS]
        # Not covered goes last: its reply ends with the topic buttons.
        topics.sort(key=lambda intent: intent == "ask_not_covered")
        combined = _with_intent(whole, {"name": topics[0], "confidence": 1.0})
        others = [
            {"entity": TOPIC_ENTITY, "value": intent, "start": 0, "end": 0, "extractor": "MultiQuestion"}
            for intent in topics[1:]
        ]
        combined["entities"] = [e for e in whole.get("entities") or [] if e.get("entity") != TOPIC_ENTITY]
        combined["entities"] += others
        return combined
    # when the one topic is asked by a question, only the questions count below ("is it
    # painful? I said no to Botox for that": the story is no question, whatever it reads as)
    pairs = list(zip(parts, told, strict=True))
    asked_by_question = len(topics) == 1 and any(_intent(p) == topics[0] and not c for p, c in pairs)
    asking = [p for p, c in pairs if not c] if asked_by_question else parts
    if len(topics) == 1 and (
        _intent(whole) in CHITCHAT
        or (is_topic(_intent(whole)) and _intent(whole) not in {_intent(p) for p in asking})
    ):
        # "hi! how much is it?"; or a whole message read as a topic none of its
        # questions is about (a long message mixes their words; "is it painful? I said
        # no to Botox for that": the story is not a question): the one question
        # confidently asked
        index = next(i for i, p in enumerate(parts) if _intent(p) == topics[0])
        if _intent(whole) == OUT_OF_SCOPE and not (questions and mentions_domain(" ".join(questions))):
            # "my car broke down, how much does it cost?": not the treatment's cost
            return whole
        return _with_intent(whole, parts[index]["intent"])
    return whole


def honest_about(parse: Dict[Text, Any], question: Text, context: bool = False) -> Dict[Text, Any]:
    """An FAQ answer for a question that names what no answer covers (another treatment,
    what goes into the water, a brand, the kit's parts, travel: ``core.domain``) becomes
    the honest "not covered" one. A part that only tells ("I tried Botox.") is left."""
    if context or not is_topic(_intent(parse)) or _intent(parse) == NOT_COVERED:
        return parse
    subject = not_covered_subject(question)
    if subject is None:
        return parse
    logger.info("Not covered: the question names %s", subject)
    return _with_intent(parse, {"name": NOT_COVERED, "confidence": 1.0})


async def understand(agent: Any, text: Text) -> Optional[Dict[Text, Any]]:
    """The parse of a typed message (see the module docstring); None without a model."""
    processor = getattr(agent, "processor", None)
    if processor is None:
        return None
    from rasa.core.channels.channel import UserMessage

    whole: Dict[Text, Any] = await processor.parse_message(UserMessage(text))
    if not RISK_LEVEL.get(_intent(whole), 0) and not _WORD.search(text):
        # "🙂🙂🙂", "???": nothing to answer; ask to rephrase rather than guess from
        # what an emoji's embedding resembles
        return _with_intent(whole, {"name": "nlu_fallback", "confidence": 1.0})
    return _sweating_in_scope(_placed(whole, await _understood(processor, whole, text)), text)


def _sweating_in_scope(result: Dict[Text, Any], text: Text) -> Dict[Text, Any]:
    """ "best socks for really sweaty feet?": about sweating, so in the domain; no answer
    covers it, so the honest "not covered" with the clinic's contacts, not out of scope."""
    if _intent(result) == OUT_OF_SCOPE and not _further_topics(result) and about_sweating(text):
        logger.info("Out of scope as classified, but about sweating: not covered")
        return _with_intent(result, {"name": NOT_COVERED, "confidence": _confidence(result)})
    return result


def _placed(whole: Dict[Text, Any], result: Dict[Text, Any]) -> Dict[Text, Any]:
    """ "is it ok for my son? he's 13": a question about a school-age child that the
    classifier placed nowhere asks whether it suits the child; the answer comes with the
    child line."""
    if _has_child_caution(whole) and _intent(result) in UNPLACED and not _further_topics(result):
        logger.info("A school-age child, no topic: who it is for")
        return _with_intent(result, {"name": CHILD_TOPIC, "confidence": _confidence(result)})
    return result


def _answered_in_language(parse: Dict[Text, Any]) -> bool:
    """The safety layer answers the message in another language (core/faq_languages.py)."""
    return any(e.get("entity") == LANGUAGE_ENTITY for e in parse.get("entities") or [])


def _further_topics(parse: Dict[Text, Any]) -> int:
    return sum(1 for e in parse.get("entities") or [] if e.get("entity") == TOPIC_ENTITY)


async def _understood(processor: Any, whole: Dict[Text, Any], text: Text) -> Dict[Text, Any]:
    from rasa.core.channels.channel import UserMessage

    if _answered_in_language(whole):
        # the safety layer found its topics in its own language, the domain included
        return whole
    if _intent(whole) == NOT_COVERED and not mentions_domain(text):
        # "are electric toothbrushes better?": not a question the clinic could answer
        whole = _with_intent(whole, {"name": OUT_OF_SCOPE, "confidence": _confidence(whole)})
        logger.info("Not covered, no word of the domain: out of scope")
        return whole
    questions = split_questions(text)
    if len(questions) < 2:
        honest = honest_about(whole, text)
        if honest is not whole and not mentions_domain(text):
            # "salt pellets or crystals for the water softener?": a subject the knowledge
            # file lacks, named in a message about something else
            logger.info("A not-covered subject, no word of the domain: out of scope")
            return _with_intent(whole, {"name": OUT_OF_SCOPE, "confidence": _confidence(whole)})
        return honest
    parts = [
        honest_about(await processor.parse_message(UserMessage(question)), question, is_context(question))
        for question in questions
    ]
    combined = combine(whole, parts, questions)
    if combined is not whole:
        logger.info(
            "Several questions: intent=%s topics=%d", _intent(combined), 1 + _further_topics(combined)
        )
    return combined
