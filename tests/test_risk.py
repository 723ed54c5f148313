"""The spaCy safety rule layer (core/safety/), without Rasa or a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.safety import EMERGENCY, URGENT, PatternFileError, RiskDetector, get_detector


@pytest.fixture(scope="module")
def detector() -> RiskDetector:
    return get_detector()


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I have a pacemaker, can I still do this?", "implanted_device"),
        ("got an ICD fitted last year", "implanted_device"),
        ("there's a titanium plate in my wrist", "metal_implant"),
        ("had a knee replacement in 2019, ok to do my feet?", "metal_implant"),
        ("im 12 weeks pregnant, is it ok", "pregnancy"),
        ("currently breastfeeding my son, can i start", "pregnancy"),
        ("we're trying to conceive at the moment", "pregnancy"),
        ("I have epilepsy", "epilepsy"),
        ("i get seizures sometimes", "epilepsy"),
        ("I was diagnosed with atrial fibrillation", "heart_condition"),
        ("I have a heart condition, is the current ok?", "heart_condition"),
        ("my hands have eczema right now", "broken_skin"),
        ("there's a deep cut on my palm", "broken_skin"),
        ("after my last session I got blisters on two fingers", "adverse_reaction"),
        ("it burned my skin yesterday", "adverse_reaction"),
        ("the redness still hasn't gone away after a week", "adverse_reaction"),
        ("can my daughter try it? she's 5", "young_child"),
        ("my toddler's palms drip, can he have it", "young_child"),
        ("i wake up drenched every night", "secondary_signs"),
        ("i've lost a lot of weight and i sweat more", "secondary_signs"),
        ("only my left side sweats", "secondary_signs"),
        ("I'm diabetic, will it help?", "secondary_signs"),
        ("started sweating loads after I began new meds", "secondary_signs"),
        ("how many mA should I set my machine to?", "medication"),
        ("what dose of glyco should I take before a session?", "medication"),
        ("should I stop taking my glycopyrrolate?", "medication"),
        ("my feet are numb from neuropathy", "reduced_sensation"),
        ("I'm having chemo at the moment", "cancer"),
        ("had a blood clot in my leg last month", "vascular"),
    ],
)
def test_urgent_risks_are_found(detector: RiskDetector, text: str, reason: str) -> None:
    result = detector.assess(text)
    assert (result.level, result.reason) == (URGENT, reason)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("my chest is really tight and im sweating buckets", "chest_pain"),
        ("I think I'm having a heart attack", "chest_pain"),
        ("i can't breathe properly and i'm soaked", "breathing"),
        ("my husband just collapsed, he's sweating", "collapse"),
        ("i passed out at the gym", "collapse"),
        ("she's sweaty and confused and dizzy", "confusion"),
        ("my blood sugar is really low and im shaking", "low_blood_sugar"),
        ("think i have heat stroke", "heat_stroke"),
        ("i want to kill myself", "self_harm"),
        ("honestly i just want to end it all", "self_harm"),
        ("everyone would be better off without me", "self_harm"),
        ("i keep scratching my wrists till they bleed", "self_harm"),
        ("been burning my skin on purpose", "self_harm"),
    ],
)
def test_emergencies_are_found(detector: RiskDetector, text: str, reason: str) -> None:
    result = detector.assess(text)
    assert (result.level, result.reason) == (EMERGENCY, reason)


@pytest.mark.parametrize(
    "text",
    [
        "i have a pacemkaer",  # transposed letters
        "im pregant, is it safe",
        "i got epilepsey",
        "my thyriod is off",
        "diabetis type 2 here",
    ],
)
def test_typos_of_risk_words_are_corrected(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == URGENT


@pytest.mark.parametrize(
    "text",
    [
        "I don't have a pacemaker, how long is a session?",
        "im not pregnant, just wondering what it costs",
        "never had a seizure in my life",
        "no implants or anything, is it safe?",
        "I don't have diabetes or thyroid issues",
        "I'm not pregnant and I don't have a pacemaker",
        "no chest pain, just sweaty palms",
        "can people with pacemakers use it? I don't have one",
        # a negation covers a plain list
        "I have no epilepsy, pacemaker or heart disease",
        "my GP ruled out diabetes and thyroid trouble",
        "thyroid tests came back normal",
        # other people, when the writer says it is not about them
        "my mum is pregnant but I'm not, can I start?",
        "my colleague has epilepsy, this isn't for me though",
        # things that are over
        "I was on sertraline years ago",
    ],
)
def test_negated_risks_do_not_escalate(detector: RiskDetector, text: str) -> None:
    result = detector.assess(text)
    assert result.level is None
    assert result.negated_only


@pytest.mark.parametrize(
    "text, level",
    [
        # doubt is not denial
        ("I don't know if I'm pregnant", URGENT),
        ("not sure whether i have epilepsy", URGENT),
        ("can't stop sweating at night", URGENT),
        # a negation does not reach past "but" / "and" into the next clause
        ("I'm not pregnant but we're trying to conceive", URGENT),
        ("I don't have a pacemaker and I'm pregnant", URGENT),
        # negation words that are part of the emergency itself
        ("i can't breathe", EMERGENCY),
        ("i don't want to live anymore", EMERGENCY),
    ],
)
def test_negation_scope(detector: RiskDetector, text: str, level: str) -> None:
    assert detector.assess(text).level == level


@pytest.mark.parametrize(
    "text",
    [
        "this sweating is killing me",
        "i could die of embarrassment every time i shake hands",
        "I'm so confused about the pricing",
        "what's your phone number?",
        "does it burn?",
        "will it give me blisters?",
        "I've had sweaty hands since I was a kid",
        "i'm 25 years old",
        "I'm 5 weeks into treatment",
        "what's the ICD-10 code for my insurance claim",
        "who shouldn't use iontophoresis?",
        "how much current does it use, is it safe?",
        "do i need a prescription for the device",
        "my sweating won't go away",
        "is the tingling normal?",
    ],
)
def test_harmless_messages_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, reason",
    [
        # another person's condition still escalates unless the writer says otherwise
        ("my dad has a pacemaker, can he use it?", "implanted_device"),
        # a condition that is still there, even if it started in the past
        ("I had a heart attack in 2019", "heart_condition"),
        # children are the patient even when a parent writes
        ("my son has really sweaty hands, he's 4", "young_child"),
    ],
)
def test_risks_that_must_still_escalate(detector: RiskDetector, text: str, reason: str) -> None:
    assert detector.assess(text).reason == reason


def test_an_adult_son_is_not_a_child(detector: RiskDetector) -> None:
    assessment = detector.assess("my son is 27 and wants to know the price")
    assert (assessment.level, assessment.cautions) == (None, ())


@pytest.mark.parametrize(
    "text",
    [
        "my son is 11 and his palms drip, does it work for kids?",
        "she's in high school, my GP says it's fine to try?",
        "I'm 15 and my palms drip",
        "can my daughter try it? she's 9",
        "is it safe for a 10 year old? his doctor suggested it",
        "my teenager's feet sweat through his trainers, how much is a home machine",
        "my son is 6 foot tall and 13, his hands drip",
    ],
)
def test_a_school_age_child_gets_a_caution_not_an_escalation(detector: RiskDetector, text: str) -> None:
    # Children from school age can have it (lower current, an adult present): the FAQ
    # answer comes with the child caution line (medical-facts.md, section 4.1)
    assessment = detector.assess(text)
    assert (assessment.level, assessment.cautions) == (None, ("child",)), assessment


@pytest.mark.parametrize(
    "text, reason",
    [
        # a school-age child with a risk of their own escalates for that risk
        ("my son is 12 and has a metal plate in his arm, can he do it", "metal_implant"),
        ("my daughter is 14 and has epilepsy, is it ok for her", "epilepsy"),
        # a preschool child in the same message as an older one
        ("my kids are 9 and 4, can they both use the machine", "young_child"),
    ],
)
def test_a_child_with_a_risk_or_too_young_still_escalates(
    detector: RiskDetector, text: str, reason: str
) -> None:
    assessment = detector.assess(text)
    assert (assessment.level, assessment.reason) == (URGENT, reason), assessment


def test_emergency_takes_precedence_over_urgent(detector: RiskDetector) -> None:
    result = detector.assess("I'm pregnant and my chest hurts really badly")
    assert (result.level, result.reason) == (EMERGENCY, "chest_pain")
    assert result.reasons == ["chest_pain", "pregnancy"]


def test_a_question_that_reveals_a_risk_escalates(detector: RiskDetector) -> None:
    result = detector.assess("I'm pregnant, how much does it cost?")
    assert (result.level, result.reason) == (URGENT, "pregnancy")


def test_self_harm_outranks_other_emergencies(detector: RiskDetector) -> None:
    assert detector.assess("i cant breathe and i want to die").reason == "self_harm"


@pytest.mark.parametrize("text", [None, "", "   ", "🙂🙂", "<img src=x onerror=alert(1)>"])
def test_empty_and_odd_input_is_safe(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


def test_very_long_input_is_capped(detector: RiskDetector) -> None:
    text = "i have a pacemaker " + "blah " * 50_000
    assert detector.assess(text).level == URGENT


def test_slang_is_expanded(detector: RiskDetector) -> None:
    assert detector.normalise("Im preggo, dont have a pacemker") == ("i'm pregnant , don't have a pacemaker")


def test_missing_pattern_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match="not found"):
        RiskDetector(tmp_path / "missing.yml")


@pytest.mark.parametrize(
    "content, message",
    [
        ("urgent: {}\n", "must have the sections"),
        ("emergency:\n  x:\n    patterns: []\nurgent:\n  y:\n    patterns: [a]\n", "no patterns"),
        ("emergency: [\n", "not valid YAML"),
    ],
)
def test_malformed_pattern_file_fails_loudly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "patterns.yml"
    path.write_text(content)
    with pytest.raises(PatternFileError, match=message):
        RiskDetector(path)


@pytest.mark.parametrize(
    "text",
    [
        # a general question about who can't have it, by someone who says nothing of themselves
        "is it true people with implants can't do it?",
        "can anyone with metal plates use iontophoresis",
        "are pregnant women allowed to have it",
        # where the current goes is how it works, not whole-body sweating
        "does the current go through the whole body?",
        "does the electricity travel through your entire body",
        # asking whether it hurts is not reporting pain
        "does it really hurt?",
        "do the sessions really hurt that much",
        # a device that was taken out
        "had the implant removed last year, nothing metal now",
        "my coil was taken out in march, how long is a session",
    ],
)
def test_general_questions_and_removed_devices_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("can people with pacemakers use it? i have one", "implanted_device"),
        ("is it safe for pregnant women? i think i am", "pregnancy"),
        ("we both have implants, can we use it", "metal_implant"),
        ("i sweat all over my body since last month", "secondary_signs"),
        ("my whole body is drenched every night", "secondary_signs"),
        ("it really hurts after the session", "adverse_reaction"),
        ("i have a metal plate in my arm, can i have it removed first?", "metal_implant"),
        ("i have an implant, will it be removed?", "metal_implant"),
        ("pacemaker removed? no, i still have it", "implanted_device"),
        ("i want my implant removed, i had surgery", "metal_implant"),
    ],
)
def test_personal_risks_near_those_phrasings_still_escalate(
    detector: RiskDetector, text: str, reason: str
) -> None:
    assert detector.assess(text).reason == reason


@pytest.mark.parametrize(
    "text, level",
    [
        ("my sweating started suddenly last month", "urgent"),
        ("all of a sudden i'm drenched every day", "urgent"),
        ("it came on out of nowhere", "urgent"),
        ("i suddenly realised i should ask, how long is a session", None),
        ("suddenly got curious about the price", None),
    ],
)
def test_sudden_onset_is_a_sign_only_when_something_began(
    detector: RiskDetector, text: str, level: str
) -> None:
    assert detector.assess(text).level == level


@pytest.mark.parametrize(
    "text",
    [
        "recommend some chill music",
        "I'm going to chill out after my session",
        # "dose" typed for "does"
        "dose it wrk",
        "how dose iontophoresis work",
        "dose the treatment hurt",
    ],
)
def test_look_alike_words_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


def test_chills_are_a_sign(detector: RiskDetector) -> None:
    assert detector.assess("I have chills and I'm sweating").reason == "secondary_signs"


@pytest.mark.parametrize("text", ["what dose of glyco is safe", "my dose was doubled last week"])
def test_a_dose_is_still_medication(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).reason == "medication"


# --------------------------------------------------------- issue 10, third pass: families


@pytest.mark.parametrize(
    "text",
    [
        # a device that is out, or never was
        "the surgeon pulled the pins out of my shin in 2019, what does a session cost",
        "my copper coil is out now, how does the treatment work",
        "no metal inside my body at all, is it safe",
        "zero implants here, can i buy a machine",
        # something that healed or was cleared
        "the split skin on my thumbs has healed up, when will it start working",
        "i had a blister on my heel from new shoes but it healed last week, does it hurt",
        "my early scan ... joking, my pregnancy test came back negative, how long is a session",
        "my GP checked my heart, nothing wrong with it, does it work for feet",
        "my cardiologist cleared me last year, how many sessions a week",
        "they said it was an innocent murmur, is it effective",
        "had a febrile fit as a toddler, never since, what does it cost",
        # about someone else, said after the mention
        "the pacemaker in our house is my grandad's, not mine, is home treatment easy",
        # general questions
        "are joint replacements an issue with this? asking in general",
        "can thyroid problems cause sweating? trying to learn the types",
        # when a lifelong problem began, or an adult's age
        "my palms have dripped since middle school, what does it cost",
        "my sweaty feet started in my teens, is it primary",
        "i was only a teen when this began, does it work",
        "my daughter, who is 27, wants to know about insurance",
        "we're finished having kids, is it safe for my husband",
        "what types of implants rule you out?",
        "could you ever get a burn from the trays?",
        # a test result or a check-up that found nothing, said after the mention
        "took a pregnancy test on sunday, negative, so can i book my first session",
        "saw a cardiologist in spring, heart completely fine, is the current safe",
        # over: "stopped breastfeeding", a baby born years ago
        "stopped breastfeeding a long time ago, how much is a home unit",
        "i finished breastfeeding ages ago, does it work on feet",
        "i had a baby 6 years ago, does it work on feet",
        "had my little boy last year and not breastfeeding, how long is a session",
        # someone else's, and the writer says so
        "my husband's the one with the pacemaker, not me. how much is a home machine?",
        "my gran had heart trouble but i'm 40 and perfectly healthy, does it hurt?",
        # a child mentioned in a message that is not about sweating or the treatment
        "tell me a bedtime story for my 4 year old",
        "my daughter wants help with her maths homework",
        # the treatment's machine sends current into the skin: not an implanted device
        "how does the machine get the current into my skin",
        # results that differ between the hands: a results question
        "only my right hand gets dry so far, why one sided results?",
        # an accident with the device, asked as a question
        "can i hurt myself if i plug the trays in the wrong way round",
        # a nursing student, a seizure denied, a simile, things named as examples
        "i'm a nursing student and my hands sweat, how much is it?",
        "i've never had a seizure in my life, does it hurt?",
        "my hands sweat like crazy, how does it work?",
        "do you treat things like eczema or pacemakers?",
        "got a quick question, can people with pacemakers use it?",
        "just wondering, are people with metal implants allowed to do it?",
        # a figure of speech, and burns asked about in general
        "i'm gonna die of embarrassment if my hands drip on the date",
        "could iontophoresis leave white patches on the skin?",
        "is it normal for the skin to look white after a session",
    ],
)
def test_risks_that_are_gone_cleared_or_general_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None, detector.assess(text)


@pytest.mark.parametrize(
    "text, level, reason",
    [
        ("my wife and i are expecting our second next spring, can she keep using it", URGENT, "pregnancy"),
        ("i get these spells where i zone out and jerk for a minute", URGENT, "epilepsy"),
        ("i want to come off my oxytrol patches cold turkey", URGENT, "medication"),
        ("i cranked it up to 25 because nothing happened, ok?", URGENT, "medication"),
        ("got a big zap from the tray and my fingertip is red", URGENT, "adverse_reaction"),
        ("there's a lump on my palm, can i still do it", URGENT, "broken_skin"),
        ("my 4-year-old girl has dripping hands", URGENT, "young_child"),
        ("the sheets are soaked every night lately", URGENT, "secondary_signs"),
        ("he can't lift his arm and his mouth looks droopy", EMERGENCY, "stroke"),
        ("zapped myself on the tray and my chest feels odd now", EMERGENCY, "chest_pain"),
        ("i do not see the point of going on with hands like these", EMERGENCY, "self_harm"),
        ("i scratched my palms raw on purpose to make them stop sweating", EMERGENCY, "self_harm"),
        # still there, not healed, only planned
        ("my cuts still haven't healed, can i do a session", URGENT, "adverse_reaction"),
        ("they might take the plate out of my arm next year, can i start now", URGENT, "metal_implant"),
        ("they took the old pacemaker out and fitted a new one in june", URGENT, "implanted_device"),
        ("my coil is out of place, the nurse is checking it next week", URGENT, "metal_implant"),
        ("my pacemaker is no longer new but works fine, can i try it", URGENT, "implanted_device"),
        # "gone" or "healed" about something else than the mention
        ("i have a plate in my wrist but the pain is gone now", URGENT, "metal_implant"),
        ("eczema on my palms, the itching is all gone though, ok to start?", URGENT, "broken_skin"),
        ("a cut on my finger, the one on my palm healed, can i do it", URGENT, "broken_skin"),
        # a denial elsewhere does not make a mention someone else's
        ("not pregnant, but a plate in my arm from when my brother pushed me", URGENT, "metal_implant"),
        # "used to be fine, now ..." is how a new sign is told
        ("i never used to sweat much but now i wake up drenched at night", URGENT, "secondary_signs"),
        ("is pregnancy a problem? i'm 20 weeks", URGENT, "pregnancy"),
        ("what's a safe amount of oxybutynin a day", URGENT, "medication"),
        ("can i use my glycopyrrolate together with the machine", URGENT, "medication"),
        # a medicine keeps the referral in a general question about taking it (a general
        # question about what it is or how it compares is "not covered" since 2026-12-04:
        # test_a_medicine_for_sweating_asked_about_in_general_does_not_escalate)
        ("which dose works better for sweating, oxybutynin or glycopyrrolate?", URGENT, "medication"),
        # only a test denies a pregnancy; "half healed" is not healed
        ("i'm pregnant but the morning sickness is all gone now, can i start", URGENT, "pregnancy"),
        ("the cut on my palm is only half healed, ok to do a session?", URGENT, "broken_skin"),
        # described, not named
        ("they fitted a battery unit under the skin of my chest", URGENT, "implanted_device"),
        ("i have a nail in my thigh bone from a crash", URGENT, "metal_implant"),
        ("my heart flutters all the time and the GP booked a monitor", URGENT, "heart_condition"),
        ("i'm feeding my 6 week old myself, can i do my hands", URGENT, "pregnancy"),
        ("my period is a week overdue, should i pause the sessions", URGENT, "pregnancy"),
        ("i never used to be a sweaty person and now i drip", URGENT, "secondary_signs"),
        ("a small patch on my palm is tender since the last session", URGENT, "adverse_reaction"),
        ("bee sting a few minutes ago and my tongue is swelling", EMERGENCY, "breathing"),
        # told inside a long story
        ("after the op they put in two screws, still there. how long is a session", URGENT, "metal_implant"),
        ("there's a nail down the length of my thigh bone since the crash", URGENT, "metal_implant"),
        ("grandad has a device under his collarbone for his heart", URGENT, "implanted_device"),
        ("i had a few fits as a student, none since, is it ok", URGENT, "epilepsy"),
        ("my knuckles are cracking and splitting from the sweat and cold", URGENT, "broken_skin"),
        ("the skin between my toes has gone raw, can i still do my feet", URGENT, "broken_skin"),
        ("i sliced my palm on a tin last week, it has steri strips on", URGENT, "broken_skin"),
        ("there's a weeping patch in my armpit after the pads", URGENT, "broken_skin"),
        ("the blister from my last session is not scabbing over", URGENT, "broken_skin"),
        ("thinking of doubling the current to get faster results", URGENT, "medication"),
        ("clammy all of a sudden with an ache through my jaw and neck, feel sick", EMERGENCY, "chest_pain"),
        ("my right side feels weak and heavy and my vision went blurry", EMERGENCY, "stroke"),
        ("her eyes are swelling shut and she's wheezing when she breathes", EMERGENCY, "breathing"),
        ("there's no point living with hands like mine, i've got tablets saved up", EMERGENCY, "self_harm"),
        ("it'd be easier for everyone if i wasn't here", EMERGENCY, "self_harm"),
        # this session's families: a named condition stays one next to a normal check-up
        ("i have afib, though the cardiologist says my heart is fine otherwise", URGENT, "heart_condition"),
        ("pregnancy test came back positive, can i keep doing my feet", URGENT, "pregnancy"),
        ("i gave birth a month ago, when can i restart", URGENT, "pregnancy"),
        ("been on sertraline since last year, can i do it", URGENT, "medication"),
        ("still breastfeeding my 3 month old, is it ok", URGENT, "pregnancy"),
        ("our three-year-old son's feet are always soaked, can he try it", URGENT, "young_child"),
        ("my right underarm pours and the left one stays dry, started this year", URGENT, "secondary_signs"),
        ("should i turn the current up? what's the right setting for me", URGENT, "medication"),
        ("can i crank it all the way to max so it works quicker", URGENT, "medication"),
        ("there's a screw in my right wrist from a fall", URGENT, "metal_implant"),
        ("my fingertips have cracked open and it bleeds a bit when i type", URGENT, "broken_skin"),
        ("my son told me he wishes he'd never been born because of the sweating", EMERGENCY, "self_harm"),
        ("she says no one would even miss her", EMERGENCY, "self_harm"),
        ("i just want to make it all stop, the sweating and everything", EMERGENCY, "self_harm"),
        # a dropped "I" is still the writer; "like mad" is a simile, not "things like"
        ("Got really sweaty all of a sudden this spring. Whats the cause?", URGENT, "secondary_signs"),
        ("sweating like crazy out of the blue since june, does it work?", URGENT, "secondary_signs"),
        # controlled epilepsy is epilepsy; the medicines name it
        ("on lamotrigine for years, is the machine ok for me", URGENT, "epilepsy"),
        ("no seizures for two years now, can i start?", URGENT, "epilepsy"),
        ("i'm seizure free since 2020, does it hurt?", URGENT, "epilepsy"),
        # painkillers the writer takes; a setting for a particular child
        ("on tramadol for my back and sweating buckets, will this help", URGENT, "medication"),
        ("which current setting for my son, he's 12", URGENT, "medication"),
        # breastfeeding in other words; sweating in sleep told the other way round
        ("expressing milk every 3 hours, can i still do my hands", URGENT, "pregnancy"),
        ("still nursing my little girl, is the tray safe", URGENT, "pregnancy"),
        ("while asleep her pillow gets drenched, is that normal", URGENT, "secondary_signs"),
        # sepsis signs (medical-facts.md section 7) and a deep burn
        ("my legs have gone blotchy and purple and i cant stop shivering", EMERGENCY, "sepsis"),
        ("feel like i'm going to die, drenched and shaking", EMERGENCY, "sepsis"),
        ("palms have white leathery patches i can't feel after the session", EMERGENCY, "severe_burn"),
        ("the blisters from the tray are spreading up my wrist", EMERGENCY, "severe_burn"),
        ("sometimes i think i should just disappear for good", EMERGENCY, "self_harm"),
        ("i could hurt myself if this goes on", EMERGENCY, "self_harm"),
        # recent, not over
        ("should i stop breastfeeding before i start the sessions?", URGENT, "pregnancy"),
        ("i haven't stopped breastfeeding yet, is it ok", URGENT, "pregnancy"),
        ("i burned my palm on the tray not long ago, it still stings", URGENT, "adverse_reaction"),
    ],
)
def test_family_phrasings_still_escalate(detector: RiskDetector, text: str, level: str, reason: str) -> None:
    assessment = detector.assess(text)
    assert (assessment.level, assessment.reason) == (level, reason), assessment


def test_denied_mentions_are_cut_from_what_the_semantic_net_reads(detector: RiskDetector) -> None:
    assessment = detector.assess("I'm not diabetic and have no pacemaker. is it better than a roll-on?")
    assert assessment.level is None
    assert assessment.undenied_text is not None
    assert "diabetic" not in assessment.undenied_text and "pacemaker" not in assessment.undenied_text
    assert "better than a roll" in assessment.undenied_text
    assert detector.assess("how long is a session?").undenied_text is None


@pytest.mark.parametrize(
    "text",
    [
        # a plural device or implant asked about as a kind of thing
        "would it mess with pacemakers? is it off limits for anyone who has one?",
        "is iontophoresis bad for implants in general?",
        # a denial of one's own ("I don't have one myself"), a general question, an assignment
        "uni assignment question, I don't have one myself: are pacemakers a problem for iontophoresis?",
        "I don't have any myself but can people with implants use it?",
        # someone else is "the one with" it, and the writer does not ask for them
        "my sister's the one with the pacemaker, I'm fine. does it hurt?",
        # removed, with the "had" before the mention, or "nothing left in there"
        "Had the pin in my left wrist taken out in 2018, what does a session involve?",
        "got my knee screws taken out back in 2019, nothing left in there now. how much is it?",
        "had the rod in my shin taken out in 2015, the surgeon said nothing is left in there",
        # a pregnancy cleared before the mention, ruled out, behind the writer
        "negative pregnancy test this week, can I start?",
        "pregnancy ruled out by my GP, is it safe?",
        "my pregnancy is behind me now. does insurance pay?",
        # the contraceptive pill is not a medicine that matters here
        "I'm on the pill so no chance of pregnancy, how does it work?",
        "negative test last night and I'm on the pill, so that's ruled out. how long is a session?",
        # what might happen, asked as a question; the trays' own plates
        "is there a risk of getting burnt by the plates in the tray?",
        "any chance of getting a shock from it?",
        "can it make your skin peel or blister?",
        # a phone's battery; "put a pin in it"; the water's temperature; a study's positive results
        "my phone's lithium battery has swollen, is that dangerous?",
        "let's put a pin in that, how much does it cost?",
        "what temperature should the water be?",
        "were the results of the trials positive?",
        # the usual redness after sessions, asked about
        "since my sessions started my hands are red for an hour, is that normal?",
    ],
)
def test_general_cleared_and_look_alike_mentions_do_not_escalate(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, level, reason",
    [
        ("I take oxybutynin, can I do iontophoresis as well?", URGENT, "medication"),
        ("been on glyco for a year, should I stop it before starting?", URGENT, "medication"),
        ("my doctor prescribed glycopyrrolate, is it ok with the machine?", URGENT, "medication"),
        ("does it interfere with my pacemaker?", URGENT, "implanted_device"),
        # someone else's condition, asked for them
        ("my son has a pacemaker, I'm fine, can he use it?", URGENT, "implanted_device"),
        (
            "my sister's the one with the pacemaker, not me. can she use my machine?",
            URGENT,
            "implanted_device",
        ),
        ("can it make your skin blister? mine blistered last night", URGENT, "adverse_reaction"),
        ("I got burnt by the plates in the tray yesterday", URGENT, "adverse_reaction"),
        # a removal that did not happen
        ("the plate in my wrist was never taken out", URGENT, "metal_implant"),
        ("pregnancy hasn't been ruled out yet, is it ok?", URGENT, "pregnancy"),
        # a shock with numbness, weakness or confusion (healthdirect: emergency care)
        (
            "got an electric shock off the frayed lead, my arm is numb and I feel confused",
            EMERGENCY,
            "electric_injury",
        ),
        (
            "it zapped me when I lifted my foot out and now my hand is weak and my heart feels irregular",
            EMERGENCY,
            "electric_injury",
        ),
        # a deep or large burn, described
        ("the skin where it burned is white and leathery and I can't feel it", EMERGENCY, "severe_burn"),
        (
            "scalded my foot with the kettle filling the tray, the burn is bigger than my hand",
            EMERGENCY,
            "severe_burn",
        ),
        # skin that looks dead after a session
        (
            "a grey patch on my palm where it touched the plate, the skin looks dead",
            URGENT,
            "adverse_reaction",
        ),
        # one half of the face or body, one foot far worse than the other
        ("the left half of my body drips and the other half stays dry", URGENT, "secondary_signs"),
        ("my right hand sweats way more than the other one lately", URGENT, "secondary_signs"),
        # implants told as the operation was
        ("fell off a ladder, the surgeon put a plate and four screws in my arm", URGENT, "metal_implant"),
        ("they pinned my ankle back together after the crash", URGENT, "metal_implant"),
        ("rods in both legs since I was a teenager, can I stand in the trays?", URGENT, "metal_implant"),
        ("the screws from my knee op never came out", URGENT, "metal_implant"),
        ("a small box under my right collarbone keeps my heart in rhythm", URGENT, "implanted_device"),
        ("my mitral valve was replaced last spring, is the current ok?", URGENT, "heart_condition"),
        # a positive test, an infant, a temperature, swelling since the treatment began
        ("two pink lines on the test today, should I pause my sessions?", URGENT, "pregnancy"),
        ("can I use it on my 3 month old's sweaty head?", URGENT, "young_child"),
        ("night and day I've had a temperature on and off for weeks", URGENT, "secondary_signs"),
        ("after the second session my fingers went puffy and stayed like that", URGENT, "adverse_reaction"),
    ],
)
def test_this_rounds_families_still_escalate(
    detector: RiskDetector, text: str, level: str, reason: str
) -> None:
    assessment = detector.assess(text)
    assert (assessment.level, assessment.reason) == (level, reason)


def test_a_harmless_shock_is_not_an_emergency(detector: RiskDetector) -> None:
    # lifting a hand out mid-session gives a harmless jolt (medical-facts.md 1.9)
    assessment = detector.assess("got a little shock when I pulled my hand out, is that normal?")
    assert assessment.level != EMERGENCY


def test_function_words_are_not_corrected_into_risk_words(detector: RiskDetector) -> None:
    # "there" was one edit from "three" and was read as it
    assert detector.normalise("nothing left in there, is it in their hands") == (
        "nothing left in there , is it in their hands"
    )


def test_a_question_not_about_the_writer_is_marked_so(detector: RiskDetector) -> None:
    marked = detector.assess(
        "not for me, I'm a pharmacist and customers keep asking me: who shouldn't use it?"
    )
    assert marked.level is None and marked.not_about_writer
    assert not detector.assess("who shouldn't use it?").not_about_writer
    # an active risk is still one, whoever says what
    assert detector.assess("not asking for me, my own pacemaker is fine though").level == URGENT


@pytest.mark.parametrize(
    "text, reason",
    [
        # a general shape, then the writer claims the mention ("Have one", "Mine was fitted")
        ("would it affect pacemakers? have had one for three years", "implanted_device"),
        ("general question: are metal implants a problem? I ask because I have two", "metal_implant"),
        ("is it ok for pacemakers? mine went in last spring", "implanted_device"),
        ("does it matter for metal plates? snapped my ankle and they're still in", "metal_implant"),
        # "the one with", then the message goes on about that person, or the writer has one too
        ("Mum's the one with the pacemaker. Is it ok for my mum to use it?", "implanted_device"),
        ("my partner's the one with the defibrillator but I've had one fitted as well", "implanted_device"),
        # a removal of something else, or metal left behind, or a device put back
        ("Had my ICD fitted and the stitches taken out the same week", "implanted_device"),
        ("had a hip replacement in May and got the staples removed last week", "metal_implant"),
        ("had the plate in my arm taken out, but the screws in my leg are still there", "metal_implant"),
        ("got the old pacemaker taken out and a new one put in", "implanted_device"),
        # a negative test, then signs of a pregnancy after all
        ("negative test on Sunday but my period is two weeks late now", "pregnancy"),
        ("negative pregnancy test last month, positive one today!", "pregnancy"),
        ("I'm 25 weeks pregnant and the sickness is behind me now", "pregnancy"),
        ("the doctor couldn't tell me if pregnancy was ruled out", "pregnancy"),
        ("ectopic pregnancy ruled out, the scan showed the baby in the right place", "pregnancy"),
        # a question about a side effect, then the writer's own
        ("how likely is a blister? I've got one on my thumb right now", "adverse_reaction"),
        # the machine with the writer's own plate; a pill for blood pressure
        ("can I use the device with a plate in my ankle?", "metal_implant"),
        ("the machine with my pins and screws, will they heat up?", "metal_implant"),
        ("I'm on the pill for my blood pressure, does it matter?", "medication"),
    ],
)
def test_a_denial_shape_does_not_hide_the_writers_own_risk(
    detector: RiskDetector, text: str, reason: str
) -> None:
    assert detector.assess(text).reason == reason


@pytest.mark.parametrize(
    "text",
    [
        "I don't have one myself, but does it interfere with pacemakers?",
        "does the device run on a lithium-ion battery?",
        "the machine has two metal plates, do both hands go on them?",
    ],
)
def test_more_look_alikes_stay_quiet(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, level, reason",
    [
        # a stroke (FAST and the other sudden signs), told without the word
        ("my wife's mouth is suddenly lopsided and she can't lift her left arm", EMERGENCY, "stroke"),
        ("his face has dropped on the right side since lunch", EMERGENCY, "stroke"),
        ("halfway through the session my hand went limp and I couldn't grip anything", EMERGENCY, "stroke"),
        ("my speech keeps coming out all jumbled since this morning", EMERGENCY, "stroke"),
        ("mum can't find her words and her smile looks crooked", EMERGENCY, "stroke"),
        ("I'm seeing double and everything went blurry in one eye", EMERGENCY, "stroke"),
        ("sudden splitting headache out of nowhere, worst headache of my life", EMERGENCY, "stroke"),
        ("I think my dad is having a stroke, his arm went dead", EMERGENCY, "stroke"),
        # a stroke in the past is a condition to check, not an emergency
        ("had a stroke in 2019, is iontophoresis ok for me?", URGENT, "vascular"),
        # implants told with a hedged count; devices described, not named
        ("they fitted a plate and about eight screws in my ankle after the crash", URGENT, "metal_implant"),
        ("they put two plates and some pins in after I broke my leg", URGENT, "metal_implant"),
        ("grandad has one of those little boxes fitted under his skin", URGENT, "implanted_device"),
        ("the device that shocks her if her heart stops, is that a problem?", URGENT, "implanted_device"),
        ("my doctor said it was afib, can I still use the trays?", URGENT, "heart_condition"),
        ("my heart does this weird racing rhythm some nights", URGENT, "heart_condition"),
        # an atypical heart attack: grey or ashen, clammy, an aching jaw
        ("he turned ashen and clammy at the table and says his jaw aches", EMERGENCY, "chest_pain"),
        ("went grey and drenched in sweat all of a sudden, feel awful", EMERGENCY, "chest_pain"),
    ],
)
def test_seventh_rounds_families_escalate(detector: RiskDetector, text: str, level: str, reason: str) -> None:
    assessment = detector.assess(text)
    assert (assessment.level, assessment.reason) == (level, reason)


@pytest.mark.parametrize(
    "text",
    [
        "what a stroke of luck that my clinic does this",
        "my face dropped when I heard the price",
        "my eyes are dropping, long day",
        "my arm gets tired holding the pad, is that normal",
        "my wrist aches after typing all day, can i still do my hands",
        # a list of examples shares its first item's "things like"
        "can things like diabetes or thyroid issues cause sweating like this?",
        "can things like thyroid problems or the menopause cause heavy sweating?",
        # a check-up that found nothing, told before the check-up
        "my heart's totally normal, the cardiologist checked last spring, how long is a session?",
        # a pet's illness, a fever that is not a temperature
        "my puppy keeps vomiting, sorry wrong chat",
        "I get hay fever every May, can I still do sessions?",
    ],
)
def test_seventh_rounds_look_alikes_stay_quiet(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


def test_a_list_after_a_denial_still_ends_at_a_new_clause(detector: RiskDetector) -> None:
    assert detector.assess("no thyroid problems, but the menopause hit me hard").reason == "secondary_signs"
    assert detector.assess("my heart is fine but I see a cardiologist for my AF").reason == "heart_condition"


def test_a_claim_is_looked_for_from_the_messages_start(detector: RiskDetector) -> None:
    """ "... with a pacemaker have it": the "have it" after the mention is no "Have one." """
    assert detector.assess("in general can people with a pacemaker have it").level is None
    assert detector.assess("Pacemaker. Have one, is it ok?").reason == "implanted_device"


@pytest.mark.parametrize(
    "text",
    [
        # a medicine for sweating asked about as one of the treatments, in general
        "is propantheline any better than oxybutynin for sweating?",
        "what exactly is glycopyrronium and does it dry your hands?",
        "are qbrexza cloths sold in Canada?",
        "which pills are there for sweating? just curious about the options",
        "a friend's derm put him on robinul. is that stronger than iontophoresis?",
    ],
)
def test_a_medicine_for_sweating_asked_about_in_general_does_not_escalate(
    detector: RiskDetector, text: str
) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text",
    [
        # the writer's own medicine, or how to take one with the treatment
        "I'm on robinul, is ionto ok?",
        "Been on oxybutynin for a year. Does it matter?",
        "can you take glycopyrrolate while doing iontophoresis?",
        "glyco dose for sweating?",
        "my derm wants to put me on glycopyrrolate tablets",
        "should you stop the pills before a session?",
    ],
)
def test_a_medicine_taken_or_to_take_still_escalates(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).reason == "medication"


@pytest.mark.parametrize(
    "text",
    [
        # an attack from outside on this round's relaxations: a medicine told tersely, how
        # to take one, one with the treatment, a dose, a condition beside it
        "Oxybutynin since March. Hands still drip.",
        "On robinul. Is ionto still ok?",
        "max robinul per 24 hrs?",
        "glyco and alcohol ok?",
        "robinul + oxybutynin at the same time ok?",
        "does robinul mess with iontophoresis",
        "can robinul tablets be crushed",
        "can glyco be taken on top of ionto sessions",
        "what if someone takes robinul and oxybutynin on the same day",
        "robinul if glaucoma?",
        "Qbrexza on a kid",
        "I'm on isotretinoin and my skin is dry, is it ok?",
        # a check-up that found nothing, then taken back
        "My heart is fine they say, but the cardiologist wants me back for more tests",
        "heart was fine at 20 but now im seeing a cardiologist",
        "My heart is fine apart from the thing the cardiologist is watching",
        # examples that end in the writer's own
        "is it safe with things like thyroid problems and a pacemaker fitted in march",
        "Not diabetic, thyroid issues and a pacemaker though",
        "is ionto ok for people with a pacemaker got one fitted last year",
        "is iontophoresis safe for pregnant people found out yesterday",
    ],
)
def test_the_attack_on_this_rounds_relaxations_still_escalates(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is not None


@pytest.mark.parametrize(
    "text",
    [
        "what's glycopyrrolate?",
        "where can you get Qbrexza?",
        "which works better, pills or iontophoresis?",
        "does propantheline help with sweating",
        "had my IUD removed last year, nothing metal in me now. how long is a session?",
    ],
)
def test_general_medicine_questions_and_cleared_mentions_stay_quiet(
    detector: RiskDetector, text: str
) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, level, reason",
    [
        # a report keeps its escalation beside those shapes
        ("I've had side effects like peeling and a rash since my last session", "urgent", "adverse_reaction"),
        (
            "my botox injections in my hands were really painful and now they're swollen",
            "urgent",
            "adverse_reaction",
        ),
        ("general question: can pregnant women use it? I'm expecting in May", "urgent", "pregnancy"),
        ("my derm mentioned glycopyrrolate, can I take it with the sessions?", "urgent", "medication"),
        ("my doctor prescribed robinul, does it work?", "urgent", "medication"),
        # a deep burn named with its colour; a shock followed by shaking
        ("the machine left a white burnt patch on my palm", "emergency", "severe_burn"),
        (
            "got a nasty shock from the frayed cable and my whole arm keeps shaking",
            "emergency",
            "electric_injury",
        ),
        # an implanted plate named beside the kit
        ("the pads are fine but i had a metal plate put in after the fracture", "urgent", "metal_implant"),
        ("can i use the electrodes with metal plates in both ankles", "urgent", "metal_implant"),
        ("trays ok with my metal plate and screws?", "urgent", "metal_implant"),
        # passive suicidal thoughts with nothing after "the point"
        ("years of this sweating and honestly i don't see the point anymore", "emergency", "self_harm"),
    ],
)
def test_eighth_rounds_reports_still_escalate(
    detector: RiskDetector, text: str, level: str, reason: str
) -> None:
    assessment = detector.assess(text)
    assert (assessment.level, assessment.reason) == (level, reason)
