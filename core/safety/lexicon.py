"""Word tables of the English safety rules: slang, negation cues, clause breaks, people.

Everything here is data; :mod:`core.safety.negation`, :mod:`core.safety.detector` and
:mod:`core.safety.patterns` read it. Words are compared lowercase, most of them on the
match key (the lookup lemma, see :func:`core.safety.patterns.token_key`).
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet

#: Words that negate what follows them in the same clause (compared on lemma/key).
NEGATION_CUES: FrozenSet[str] = frozenset(
    {"no", "not", "never", "without", "none", "neither", "nor", "nothing", "nobody", "zero"}
)
#: A cue followed by one of these expresses doubt or persistence, not absence:
#: "not sure if I'm pregnant", "don't know", "can't stop sweating", "no idea".
PSEUDO_NEGATION_NEXT: FrozenSet[str] = frozenset(
    {
        "sure",
        "know",
        "certain",
        "idea",
        "stop",
        "think",
        "only",
        "just",
        "doubt",
        "remember",
        "matter",
        "wait",
        "mind",
        "rule",
        "tell",
        "even",
        "understand",
        "realise",
        "realize",
        "clue",
        "positive",
        "confirm",
        "check",
        "test",
        "yet",
    }
)

#: Words that end a clause, so a negation before them does not reach past them.
CLAUSE_BREAKS: FrozenSet[str] = frozenset(
    {
        ".",
        ",",
        ";",
        ":",
        "!",
        "?",
        "-",
        "--",
        "(",
        ")",
        "/",
        "but",
        "and",
        "however",
        "although",
        "though",
        "while",
        "because",
        "since",
        "so",
        "if",
        "when",
        "whether",
        "cause",
        "cos",
        "as",
        "yet",
        "except",
        "plus",
        "also",
    }
)

#: Phone slang and dropped apostrophes, expanded before spaCy sees the text.
SLANG: Dict[str, str] = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "im": "i'm",
    "ive": "i've",
    "id": "i'd",
    "ill": "i'll",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "cnt": "can't",
    "couldnt": "couldn't",
    "wont": "won't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "hadnt": "hadn't",
    "aint": "ain't",
    "shouldnt": "shouldn't",
    "wouldnt": "wouldn't",
    "dnt": "don't",
    "dint": "didn't",
    "nope": "no",
    "nah": "no",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "idk": "i don't know",
    "dunno": "don't know",
    "w/": "with",
    "w/o": "without",
    "b/c": "because",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "bcoz": "because",
    "ppl": "people",
    "abt": "about",
    "rn": "right now",
    "atm": "right now",
    "preggo": "pregnant",
    "preggers": "pregnant",
    "prego": "pregnant",
    "preg": "pregnant",
    "ttc": "trying to conceive",
    "bfing": "breastfeeding",
    "bf'ing": "breastfeeding",
    "kms": "kill myself",
    "unalive": "kill",
    "sui": "suicide",
    "a-fib": "afib",
    "heatstroke": "heat stroke",
    "sunstroke": "sun stroke",
    "selfharm": "self harm",
    "self-harm": "self harm",
    "pacemaker's": "pacemaker",
    "yrs": "years",
    "yr": "year",
    "wks": "weeks",
    "wk": "week",
    "hrs": "hours",
    "bday": "birthday",
    "cannot": "can not",
    "can't": "can not",
    "won't": "will not",
}

#: Slang that is an everyday word of another language: not expanded in a message with
#: any word of that language ("ho i calli sui piedi": "sui" is "on the"; "prego" is
#: "you're welcome").
SLANG_FALSE_FRIENDS: Dict[str, str] = {"sui": "it", "prego": "it"}

#: English medical words that other languages write alike: in an English message they
#: are the English rules' to read (the French "fébrile" phrase is not looked for in "had
#: a febrile fit as a toddler, never since").
ENGLISH_MEDICAL_WORDS: FrozenSet[str] = frozenset(
    {
        "febrile", "lithium", "tumor", "tumour", "tumors", "tumours", "insulin", "diabetes",
        "diabetic", "epilepsy", "eczema", "psoriasis", "dermatitis", "arrhythmia", "stent",
        "cancer", "melanoma", "lymphoma", "leukemia", "thrombosis", "embolism", "angina",
        "migraine", "glaucoma", "anemia", "anaemia", "hypothyroidism", "hyperthyroidism",
        "pacemaker", "defibrillator", "prosthesis", "implant", "implants", "ivf",
    }
)  # fmt: skip


#: Phrases that deny what follows them, rewritten to "no" before matching:
#: "the doctor ruled out thyroid problems", "tested negative for diabetes".
NEGATING_PHRASES: "re.Pattern[str]" = re.compile(
    r"\b(?:ruled out|rule out|ruling out|tested negative for|negative for|free of|clear of)\b"
)

#: Words that are not English dictionary words but are not typos either.
NOT_TYPOS: FrozenSet[str] = frozenset(
    {
        "medicare",
        # Spanish: batteries, not pills
        "pilas",
        "pila",
        "medicaid",
        "iontophoresis",
        "hyperhidrosis",
        "antiperspirant",
        "antiperspirants",
        "deodorant",
        "deodorants",
        "drysol",
        "botox",
        "miradry",
        "hidrex",
        "dermadry",
        "saalio",
        "insurer",
        "insurers",
        "copay",
        "copays",
    }
)

#: Categories where "years ago" / "used to" / a past year means it no longer applies
#: ("was on antidepressants years ago"). Chronic conditions are never dismissed so.
PAST_DISMISSABLE: FrozenSet[str] = frozenset(
    {"medication", "broken_skin", "pregnancy", "feeling_unwell", "adverse_reaction"}
)

#: spaCy splits contractions into pieces whose lemmas differ from the spelt-out words;
#: the match key maps them back ("ca" from "can't" -> "can").
KEY_FIXES: Dict[str, str] = {
    "ca": "can",
    "wo": "will",
    "sha": "shall",
    "nt": "not",
    "n't": "not",
    "'m": "be",
}

#: Nouns that make a mention generic: "people with pacemakers", "pregnant women".
GENERIC_PEOPLE: FrozenSet[str] = frozenset(
    {
        "people",
        "person",
        "someone",
        "somebody",
        "anyone",
        "anybody",
        "those",
        "patient",
        "woman",
        "women",
        "man",
        "men",
        "folk",
        "folks",
        "ppl",
        "other",
        "others",
        "user",
        "users",
        "lady",
        "ladies",
        "mother",
        "mothers",
        "mum",
        "mums",
        "mom",
        "moms",
    }
)
#: Other people whose conditions a patient may mention: "my grandad has a pacemaker".
THIRD_PARTY: FrozenSet[str] = frozenset(
    {
        "grandad",
        "granddad",
        "grandpa",
        "grandfather",
        "grandma",
        "gran",
        "nan",
        "nana",
        "granny",
        "grandmother",
        "dad",
        "father",
        "mum",
        "mom",
        "mother",
        "sister",
        "brother",
        "friend",
        "wife",
        "husband",
        "partner",
        "aunt",
        "auntie",
        "uncle",
        "cousin",
        "colleague",
        "coworker",
        "boss",
        "boyfriend",
        "girlfriend",
        "gf",
        "flatmate",
        "roommate",
        "neighbour",
        "neighbor",
        "patient",
        "client",
        "fiance",
        "fiancee",
        "mate",
        "sis",
        "bro",
        "ex",
    }
)
#: Pronouns that put a condition on someone else: "she has epilepsy", "her leg".
OTHER_PRONOUNS: FrozenSet[str] = frozenset({"he", "she", "her", "his", "they", "their", "him", "them"})
#: Phrases that say the question is not about the writer's own health.
NOT_ABOUT_ME: "re.Pattern[str]" = re.compile(
    r"\b(?:not|n't|isn't|is not|nothing)\s+(?:for|about|to do with)\s+me\b"
    r"|\bnot (?:me )?personally\b|\bhypothetically\b|\bin general\b|\bgenerally\b"
    r"|\bjust curious\b|\bout of curiosity\b|\bnot mine\b"
    r"|\b(?:read|heard|seen|saw) (?:about|that|of) (?:people|others|someone|some people)\b"
    r"|\bi (?:have not|haven't|havent|have n't) (?:even |yet )?(?:started|begun|tried)\b"
    r"|\b(?:this|it|the question|question)(?:'s| is) (?:for|about) me\b"
    r"|\bi'?m (?:a |\d{1,2} and |\d{1,2} , )?"
    r"(?:completely |perfectly |totally |very |otherwise |fit and )?healthy\b"
    r"|(?:,|\bbut|\band) not (?:me|mine)\b"
    r"|\bi'?m (?:a|an) (?:nurse|doctor|gp|pharmacist|carer|caregiver|student|researcher|writer"
    r"|blogger|journalist|physio|physiotherapist)\b"
    r"|\bi'?m not\s*(?:,|\.|!|;|and\b|but\b|so\b|though\b|myself\b|$)"
    r"|\bi (?:do not|don't|do n't)\s*(?:,|\.|!|;|and\b|but\b|$)"
    # "I don't have one myself", "a general question", "for a physio assignment",
    # "patients keep asking me"
    r"|\bi (?:do not|don't|do n't|dont) have (?:one|any|it|them|that)(?: myself| personally)?"
    r"\s*(?:,|\.|!|;|:|-|and\b|but\b|$)"
    r"|\bgeneral (?:question|query|enquiry|inquiry)\b"
    r"|\bfor (?:a|an|my|our) (?:\w+ ){0,2}"
    r"(?:assignment|essay|project|coursework|dissertation|module|exam|revision)\b"
    r"|\b(?:patients|people|clients|customers|parents) (?:keep |often |always |sometimes )?"
    r"(?:ask|asking) me\b"
)

#: Words that introduce examples rather than the writer's own condition.
EXAMPLE_MARKERS: FrozenSet[str] = frozenset(
    {"like", "such", "things", "thing", "conditions", "condition", "stuff"}
)

#: Words that may stand between the items of a negated list: "no epilepsy, pacemaker or ...".
LIST_JOINERS: FrozenSet[str] = frozenset({"and", "or", "nor", ",", "/", "&", "any", "a", "an", "other"})
#: ... and between the examples after "things like": "thyroid problems or the menopause".
EXAMPLE_LIST_JOINERS: FrozenSet[str] = LIST_JOINERS | frozenset(
    {"the", "problem", "problems", "issue", "issues", "trouble", "troubles", "disease", "diseases"}
)

#: Words by which writers speak of themselves: a message with none of them that asks
#: about "people with X" asks in general.
FIRST_PERSON = frozenset(
    {"i", "i'm", "im", "i've", "ive", "i'd", "me", "my", "mine", "myself", "we", "our", "us", "ours"}
)
