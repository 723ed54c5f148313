"""Whether a message is about the domain at all: sweating, the treatment, the clinic.

The classifier's honest "not covered" intent is for in-domain questions the knowledge
file has no answer for ("which brand of machine is best?"). A question with no word of
the domain in it ("is an electric toothbrush better than a manual one?") is out of
scope instead: :func:`mentions_domain` tells them apart. The words are stems, matched at
the start of a word, so "sweaty", "sweating" and "sweats" all count.

Framework-free; no Rasa types.
"""

from __future__ import annotations

import re
from typing import Optional

#: Word starts (regular expressions; ``\\b`` ends a whole word) that belong to the domain.
#: A message with none of them is not about it.
DOMAIN_STEMS = (
    # sweating and the body parts treated
    "sweat",
    "perspir",
    "hyperhidros",
    "hidros",
    "damp",
    "wet",
    "clamm",
    "moist",
    "drip",
    "soak",
    "drench",
    "dry\\b",
    "dryness",
    "dries",
    "odou?r",
    "smell",
    "stink",
    "palms?\\b",
    "hands?\\b",
    "feet\\b",
    "foot\\b",
    "soles?\\b",
    "armpit",
    "underarm",
    "pits\\b",
    "axill",
    "scalp",
    "forehead",
    "face\\b",
    "groin",
    "skin",
    "glove",
    "sock",
    "shoe",
    "grip",
    # the treatment and its kit
    "ionto",
    "iontophor",
    "tap water",
    "taps?\\b",
    "schedul",
    "polarit",
    # the machine's modes and settings: "the DC or the pulsed setting on mine"
    "pulsed",
    "milliamp",
    "settings?\\b",
    "batter(?:y|ies)",
    "mains\\b",
    "ship",
    "deliver",
    "baking soda",
    "water",
    "tray",
    "electrode",
    "sponge",
    "pads?\\b",
    "currents?\\b",
    "volt",
    "machine",
    "device",
    "units?\\b",
    "treat",
    "therap",
    "session",
    "tingl",
    "hidrex",
    "dermadry",
    "fischer",
    "saalio",
    "drionic",
    "sweatstop",
    # other treatments for sweating
    "antiperspir",
    "deodor",
    "roll-on",
    "drysol",
    "aluminium",
    "aluminum",
    "botox",
    "botulinum",
    "miradry",
    "sympathect",
    "ets\\b",
    "surgery",
    "glyco",
    "oxybutynin",
    "robinul",
    "qbrexza",
    # the clinic and paying for it
    "clinic",
    "doctor",
    "derm",
    "gps?\\b",
    "nurse",
    "appointment",
    "booking",
    "insur",
    "nhs",
    "medicare",
    "cost",
    "price",
    "pay\\b",
    "paying",
    "payment",
    "refund",
    "warrant",
    "rent(?:al|ing)?\\b",
)
#: Words of the domain that are everyday words too: they count only in a message that
#: names nothing else they could be about ("my phone's battery", "the car's water pump").
WEAK_STEMS = frozenset(
    {
        "damp", "wet", "moist", "drip", "soak", "dry\\b", "dryness", "dries", "smell", "stink",
        "taps?\\b", "schedul", "batter(?:y|ies)", "mains\\b", "ship", "deliver", "water", "tray",
        "pads?\\b", "currents?\\b", "volt", "machine", "device", "units?\\b", "treat", "session",
        "cost", "price", "pay\\b", "paying", "payment", "refund", "warrant", "rent(?:al|ing)?\\b",
        "settings?\\b",
    }
)  # fmt: skip
_DOMAIN = re.compile(
    r"\b(?:" + "|".join(stem for stem in DOMAIN_STEMS if stem not in WEAK_STEMS) + r")", re.IGNORECASE
)
_WEAK = re.compile(
    r"\b(?:" + "|".join(stem for stem in DOMAIN_STEMS if stem in WEAK_STEMS) + r")", re.IGNORECASE
)

#: Everyday compounds whose second word is a word of the domain: "a shower tray", "my
#: phone battery", "the washing machine" are not the treatment's kit. Cut out before
#: the domain words are looked for.
NOT_DOMAIN_COMPOUNDS = (
    r"(?:shower|bath|ice(?:\s+cube)?|paint|litter|baking|oven|serving|tea|seed|printer|paper|drip)\s+trays?",
    r"(?:phone|laptop|car|tesla|ev|watch|iphone|android|tablet|camera|remote|aa|aaa|power\s+bank)\s+"
    r"(?:batter(?:y|ies)|charger|charging)",
    r"(?:washing|coffee|vending|sewing|slot|time|espresso|bread|ice|fax|answering)\s+machines?",
    r"(?:gaming|study|jam|photo|revision|training|practice|coding|chat)\s+sessions?",
    r"water\s+(?:bills?|meters?|heaters?|rates?|company|board|park|polo|slides?|tanks?|pressure|leaks?)",
    r"(?:second|hand)[\s-]+hand|hand\s+(?:luggage|brake|baggage)|dry[\s-]+clean\w*|palm\s+(?:oil|trees?|springs)",
    r"current\s+(?:affairs|events|account|job|situation|address|phone)",
    # "a rip current at the beach", "car insurance for a 17 year old", "water softener salt"
    r"(?:rip|ocean|sea|tidal|river|undertow|air|jet\s+stream|electricity\s+bill)\s+currents?",
    r"(?:car|motor|van|bike|motorbike|home|house|contents|travel|pet|life|phone|gadget|holiday|dental)\s+insurance",
    r"water\s+softeners?(?:\s+(?:salt|tablets|pellets|crystals|blocks))?",
    r"salt\s+(?:pellets|crystals|blocks|tablets)",
    # "how do I doctor up a store-bought sauce"
    r"doctor(?:ed|ing|s)?\s+(?:it\s+|them\s+|this\s+|that\s+)?up",
)
_NOT_DOMAIN = re.compile(r"\b(?:" + "|".join(NOT_DOMAIN_COMPOUNDS) + r")\b", re.IGNORECASE)

#: "is it ok every day?": "it" is the treatment the conversation is about ...
_ABOUT_IT = re.compile(r"\b(?:it|it's|its|this|that)\b", re.IGNORECASE)
#: ... unless the message names something else it can be: "my phone overheats when I
#: charge it", "how long does it take to renew a passport".
ELSEWHERE_WORDS = (
    r"phones?|iphone|android|laptop|computer|pc|tablet|ipad|tv|telly|netflix|wi-?fi|router|internet|broadband"
    r"|printer|password|cars?|bike|motorbike|engine|tyres?|jump leads|passport|visa"
    r"|fridge|freezer|oven|microwave|dishwasher|kettle|boiler|radiator"
    r"|washing machine|kitchen|garden|lawn|dog|puppy|cat|kitten|recipe|pizza|pasta|cake|football|match"
    r"|game|homework|essay|maths|code|python|javascript|bitcoin|crypto|mortgage|loan|tax|council"
    # "film": a movie, not "a white film on the trays"
    r"|weather|rain|snow|movie|(?<!white )(?<!crusty )(?<!chalky )(?<!sticky )(?<!thin )film(?! on\b| over\b)"
    r"|song|band|concert|paint|wall|roof|boyfriend"
    r"|girlfriend|pension|shares|stock market|exam results|driving test|limescale|shower|bathroom"
    r"|toilet|sink|tiles|carpet|plants?|fish tank|aquarium|pool|beach|ocean|seaside"
    r"|monstera|houseplants?|succulents?|orchids?|cactus|cacti|seedlings?"
    r"|jokes?|poems?|riddles?|puns?|lyrics"
)
_ELSEWHERE = re.compile(rf"\b(?:{ELSEWHERE_WORDS})\b", re.IGNORECASE)


def mentions_domain(text: str) -> bool:
    """True when the message has a word of the domain (not as part of an everyday
    compound: "shower tray", "phone battery"), or an everyday word of it (:data:`WEAK_STEMS`)
    or an "it" / "this" / "that" that can only mean the treatment in a chat with the
    clinic's assistant: not when the message names something else they could be about
    ("my phone gets hot when I charge it, is that bad for the battery?")."""
    text = _NOT_DOMAIN.sub(" ", text or "")
    if _DOMAIN.search(text):
        return True
    if _ELSEWHERE.search(text):
        return False
    return bool(_WEAK.search(text) or _ABOUT_IT.search(text))


#: What the knowledge file has no answer for, when a question names it: other treatments,
#: what goes into the water, brands and models of machines, the kit's parts and care,
#: travelling with it. A question about one of them gets the honest "I don't have that
#: answer", never the nearest FAQ answer ("how long does Botox last?" is not a timeline
#: question about iontophoresis). Each family is a regular expression over the question.
NOT_COVERED_SUBJECTS = {
    "other_treatment": (
        r"botox|botulinum|miradry|mira dry|sympathectom\w*|\bets\b|surgery|surgical|laser|liposuction"
        r"|curettage|microwave therapy|radiofrequency|qbrexza|sofdra|wipes?\b|tablets?\b|pills?\b"
        r"|acupuncture|hypnosis|hypnotherapy|sage\b|dexamethasone"
        # medicines for sweating, asked about as treatments (the writer's own escalates first)
        r"|glycopyrr\w*|oxybutynin|robinul|propantheline|anticholinergic\w*"
    ),
    # "do I take my wedding ring off?"
    "jewellery": (
        r"(?:wedding|engagement|my|a|the|your|his|her) rings?\b|rings? off\b|jewell?ery|piercings?|bracelets?"
    ),
    "water": (
        r"distilled|bottled water|mineral water|salt\b|salty|baking soda|bicarb\w*|vinegar|soft water"
        r"|hard water|filtered water|water softener"
    ),
    "brand": (
        r"hidrex|dermadry|fischer|saalio|drionic|sweatstop|idromed|\bbrand"
        r"|which (?:machine|device|unit|model|one) (?:should|to|is|do|would)"
        r"|best (?:machine|device|unit|model|brand)"
    ),
    "kit": (
        r"electrodes?|sponges?|grid|grille"
        r"|clean(?:ing|ed)? (?:the )?(?:trays?|electrodes?|pads?|machine|device)"
        r"|descal\w*|batter(?:y|ies) (?:life|last|charge)|spare parts?|replacement (?:pads?|trays?|cables?)"
        r"|warrant(?:y|ies)|guarantee|repair(?:ed|s)?\b"
    ),
    # "carry-on" luggage, not "carry on the treatment at home"
    "travel": (
        r"travel\w*|on a plane|flight|hand luggage|carry-on|carry on (?:bags?|luggage|cases?)|abroad|holiday"
    ),
    "mode": r"pulsed|\bac\b|\bdc\b|direct current|alternating current|polarity",
}
_NOT_COVERED_RE = {
    name: re.compile(rf"(?:{words})", re.IGNORECASE) for name, words in NOT_COVERED_SUBJECTS.items()
}


#: Sweating named outright ("sweaty feet", "pit stains"): a message about it is in the
#: domain even when it asks what no answer covers (socks, shirts, a smell).
_SWEATING = re.compile(
    r"\b(?:sweat(?!ers?\b|shirts?\b|pants\b|bands?\b|shops?\b|suits?\b|y betty)\w*"
    r"|perspir\w*|hyperhidros\w*|(?:arm)?pit stains?|underarm stains?|clammy)",
    re.IGNORECASE,
)


def about_sweating(text: str) -> bool:
    """True when the message names sweating and nothing else it could be about ("best
    socks for sweaty feet?"; not "I'm sweating over my maths homework")."""
    return bool(_SWEATING.search(text or "")) and not _ELSEWHERE.search(text or "")


def not_covered_subject(question: str) -> Optional[str]:
    """The family of :data:`NOT_COVERED_SUBJECTS` a question names, or None."""
    for name, pattern in _NOT_COVERED_RE.items():
        if pattern.search(question or ""):
            return name
    return None


#: Words that name iontophoresis itself or its kit: a question with one of them is about
#: the treatment, not about another subject named before it.
_THE_TREATMENT = re.compile(
    r"\b(?:ionto\w*|iontophor\w*|this treatment|the treatment|tap[- ]water|trays?|current|electric\w*"
    r"|machines?|devices?|sessions?)\b",
    re.IGNORECASE,
)


def names_the_treatment(question: str) -> bool:
    """True when the question names iontophoresis or its kit ("how long is a session?"),
    not only "it" ("how long does Botox last and does it hurt?": the second question is
    about Botox)."""
    return bool(_THE_TREATMENT.search(question or ""))
