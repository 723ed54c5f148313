"""Clinic settings: name, phone, booking link, emergency and crisis numbers.

Read from ``clinic.yml`` at the repository root, or from the file named by the
``CLINIC_SETTINGS`` environment variable. Loaded on first use and cached; a missing
file or key fails loudly, because a wrong phone number is worse than no start.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "clinic.yml"
ENV_VAR = "CLINIC_SETTINGS"


class SettingsError(ValueError):
    """The clinic settings file is missing or incomplete."""


@dataclass(frozen=True)
class ClinicSettings:
    """The clinic's contact details, as written in the settings file."""

    clinic_name: str
    clinic_phone: str
    booking_url: str
    emergency_number: str
    emergency_tel: str
    crisis_line: str

    def as_dict(self) -> Dict[str, str]:
        """The settings as response template variables (``{clinic_phone}`` ...)."""
        return asdict(self)


def settings_path() -> Path:
    """The settings file in use: ``$CLINIC_SETTINGS`` or ``clinic.yml``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else DEFAULT_PATH


def load_settings(path: Optional[Path] = None) -> ClinicSettings:
    """Reads and checks a settings file.

    Raises:
        SettingsError: the file is missing, not YAML, or lacks a non-empty field.
    """
    path = path or settings_path()
    if not path.is_file():
        raise SettingsError(f"Clinic settings file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SettingsError(f"Clinic settings file {path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise SettingsError(f"Clinic settings file {path} must be a mapping")
    values = {}
    for name in ClinicSettings.__dataclass_fields__:
        value = data.get(name)
        if not isinstance(value, (str, int)) or not str(value).strip():
            raise SettingsError(f"Clinic settings file {path} needs a non-empty '{name}'")
        values[name] = str(value).strip()
    return ClinicSettings(**values)


@lru_cache(maxsize=1)
def get_settings() -> ClinicSettings:
    """The process-wide settings, loaded once."""
    return load_settings()
