"""The safety rule layer: finds personal risks and emergencies in a message.

Framework-free (spaCy, no Rasa types); the Rasa NLU component ``addons/safety.py``
runs it on every message. Modules:

* :mod:`core.safety.findings`: levels, :class:`Finding`, :class:`Assessment`;
* :mod:`core.safety.lexicon`: the English word tables (slang, negation cues...);
* :mod:`core.safety.patterns`: loading and compiling ``knowledge/risk_patterns.yml``;
* :mod:`core.safety.spelling`: the misspelling corrector (a deletion index);
* :mod:`core.safety.negation`: negation, later denials, other people, the past;
* :mod:`core.safety.multilingual`: risk phrases in es, de, fr, it and pt;
* :mod:`core.safety.detector`: :class:`RiskDetector`, :func:`get_detector`, :func:`assess`.
"""

from core.safety.detector import MAX_CHECKED_CHARS, RiskDetector, assess, get_detector
from core.safety.findings import EMERGENCY, LEVELS, URGENT, Assessment, Finding
from core.safety.patterns import PatternFileError

__all__ = [
    "EMERGENCY",
    "LEVELS",
    "MAX_CHECKED_CHARS",
    "URGENT",
    "Assessment",
    "Finding",
    "PatternFileError",
    "RiskDetector",
    "assess",
    "get_detector",
]
