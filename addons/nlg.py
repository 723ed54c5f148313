"""Response generator that fills the clinic's settings into domain responses.

Domain responses say ``{clinic_name}``, ``{clinic_phone}``, ``{booking_url}``,
``{emergency_number}``, ``{emergency_tel}`` and ``{crisis_line}``; this generator
supplies them from ``clinic.yml`` inside the Rasa server. Safety replies therefore
need neither the action server nor a retrained model to carry the right numbers.
Enabled in ``endpoints.yml`` under ``nlg: type: addons.nlg.ClinicResponseGenerator``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from core.settings import get_settings


class ClinicResponseGenerator(TemplatedNaturalLanguageGenerator):
    """Rasa's templated generator plus the clinic settings as template variables."""

    def __init__(
        self,
        endpoint_config: Optional[EndpointConfig] = None,
        domain: Optional[Domain] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__((domain or Domain.empty()).responses)
        # Fails at server start, not mid-conversation, when the settings are broken.
        self._clinic_values = get_settings().as_dict()

    def _response_variables(  # type: ignore[override]
        self, filled_slots: Optional[Dict[Text, Any]], kwargs: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        values = dict(filled_slots or {})
        values.update(kwargs)
        # Settings win over slots of the same name: a patient cannot change the numbers.
        values.update(self._clinic_values)
        return values
