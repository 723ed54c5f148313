"""The safety rule layer: finds personal risks and emergencies in a message.

Framework-free (spaCy, no Rasa types); the Rasa NLU component ``addons/safety.py``
runs it on every message.
"""

from core.safety.detector import (  # noqa: F401
    EMERGENCY,
    LEVELS,
    URGENT,
    Assessment,
    Finding,
    PatternFileError,
    RiskDetector,
    assess,
    get_detector,
)
