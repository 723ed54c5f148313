"""Every setting of the assistant, read once, in one place.

Two kinds:

* **Clinic settings** (:class:`ClinicSettings`): name, phone, booking link, emergency
  and crisis numbers, from ``clinic.yml`` at the repository root or the file named by
  ``CLINIC_SETTINGS``. A missing file or key fails loudly: a wrong phone number is
  worse than no start.
* **Server settings** (:class:`ServerSettings`): ports, stores, limits and channel
  credentials, from environment variables. :data:`DEFAULTS` lists every variable with
  its default; ``scripts/serve.py`` fills the defaults into the environment of the
  processes it starts (``endpoints.yml`` and ``credentials.yml`` name them as
  ``${VARIABLES}``), and the README's "Settings" table documents them.

Framework-free: no Rasa types, used by the Rasa server, the action server and the
scripts alike. Nothing is read at import time; :func:`get_settings` and
:func:`get_server_settings` read once per process and cache.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Mapping, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "clinic.yml"
ENV_VAR = "CLINIC_SETTINGS"
#: The local SQLite tracker store used when TRACKER_STORE_URL is not set.
DEFAULT_TRACKER_DB = ROOT / "var" / "tracker.db"

#: Every environment variable the assistant reads, with its default. Values are
#: strings, as the environment holds them; :class:`ServerSettings` gives them types.
DEFAULTS: Dict[str, str] = {
    # Ports: action server, Rasa (REST channel and Telegram webhook), widget demo page.
    "ACTION_PORT": "5055",
    "RASA_PORT": "5005",
    "WEB_PORT": "8080",
    # Interface Rasa listens on: loopback, behind a reverse proxy; 0.0.0.0 for every one.
    "RASA_HOST": "127.0.0.1",
    # The action server only talks to Rasa: loopback unless deliberately changed.
    "ACTION_HOST": "127.0.0.1",
    # Where Rasa finds the action server; empty means http://127.0.0.1:$ACTION_PORT/webhook.
    "ACTION_ENDPOINT_URL": "",
    # Seconds Rasa waits for a custom action before the patient gets the apology
    # (Rasa 3.6 would wait 5 minutes; applied by addons/patches.py).
    "ACTION_TIMEOUT": "10",
    # Largest request the action server accepts: it gets the conversation from Rasa.
    "ACTION_REQUEST_MAX_SIZE": "100000000",
    # Tracker store: SQLite file by default; PostgreSQL for several Rasa instances.
    "TRACKER_DIALECT": "sqlite",
    "TRACKER_STORE_URL": "",
    # Lock store: in_memory for one Rasa instance, redis for several.
    "LOCK_STORE_TYPE": "in_memory",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_DB": "1",
    # Origins allowed to call the REST channel from a browser (space separated); empty
    # means the demo page's own http://localhost:$WEB_PORT and http://127.0.0.1:$WEB_PORT.
    "WIDGET_ORIGINS": "",
    # Rasa's HTTP API (trackers, model control) is on only when a token is set.
    "RASA_API_TOKEN": "",
    # Turn guard (addons/guard.py): longest message read, and messages per sender.
    "MAX_MESSAGE_CHARS": "2000",
    "RATE_LIMIT_MESSAGES": "10",
    "RATE_LIMIT_SECONDS": "10",
    # Messages at least this long are handled one at a time, so that a flood of long
    # messages cannot delay a short one (an emergency) behind it.
    "LONG_MESSAGE_CHARS": "300",
    # Client metadata keys kept with a message (space separated; none by default), and
    # the most bytes of JSON kept for them.
    "METADATA_KEYS": "",
    "METADATA_MAX_BYTES": "1024",
    # Sentence embeddings (core/embeddings.py): auto (ONNX Runtime when installed, else
    # NumPy), onnx, onnx-int8 or numpy.
    "EMBEDDINGS_BACKEND": "auto",
    # Conversations older than this are deleted by `make retention`.
    "RETENTION_DAYS": "30",
    # The staff report page (/webhooks/staff/, addons/staff.py) is off until this is set
    # to a secret of at least 16 characters; staff log in with it (docs/staff.md).
    "STAFF_TOKEN": "",
    # Clinic settings file; empty means clinic.yml at the repository root.
    "CLINIC_SETTINGS": "",
    # Telegram channel (docs/telegram.md): off until the token and secret are set.
    "TELEGRAM_TOKEN": "",
    "TELEGRAM_BOT_USERNAME": "",
    "TELEGRAM_WEBHOOK_URL": "",
    "TELEGRAM_WEBHOOK_SECRET": "",
    "TELEGRAM_API_BASE_URL": "",
    # Sending a reply to the Bot API (core/delivery.py): network errors, 5xx and 429 are
    # retried with exponential backoff (first wait TELEGRAM_RETRY_DELAY_SECONDS, doubling
    # up to 16 times that, with jitter), within this many attempts per message and this
    # many seconds per turn; an escalation (emergency or referral) gets the second pair.
    "TELEGRAM_SEND_ATTEMPTS": "4",
    "TELEGRAM_SEND_BUDGET_SECONDS": "10",
    "TELEGRAM_ESCALATION_SEND_ATTEMPTS": "10",
    "TELEGRAM_ESCALATION_SEND_BUDGET_SECONDS": "40",
    "TELEGRAM_RETRY_DELAY_SECONDS": "0.5",
    # Rasa's log level for its own logger (DEBUG logs message texts: never in production).
    "LOG_LEVEL": "INFO",
    # Bodies over 1 MB are refused with 413 before any parsing (Rasa's Sanic server).
    "SANIC_REQUEST_MAX_SIZE": "1000000",
    # Sanic's own errors (413, 404, 405) as JSON, not an HTML page.
    "SANIC_FALLBACK_ERROR_FORMAT": "json",
    # Quiet, and nothing leaves the machine.
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONWARNINGS": "ignore",
    # Log lines reach the log file at once, and are not lost when a process dies.
    "PYTHONUNBUFFERED": "1",
}


class SettingsError(ValueError):
    """A settings file or variable is missing, malformed or out of range."""


# --------------------------------------------------------------------- environment
def environment(
    base: Optional[Mapping[str, str]] = None, overrides: Optional[Mapping[str, str]] = None
) -> Dict[str, str]:
    """``base`` (default: this process's environment) plus ``overrides``, with every
    variable of :data:`DEFAULTS` that is unset or empty filled in, and the derived
    defaults (action endpoint, tracker store URL, widget origins) resolved."""
    env = dict(os.environ if base is None else base)
    env.update(overrides or {})
    for key, value in DEFAULTS.items():
        if not env.get(key):
            env[key] = value
    if not env.get("ACTION_ENDPOINT_URL"):
        env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{env['ACTION_PORT']}/webhook"
    if not env.get("TRACKER_STORE_URL"):
        env["TRACKER_STORE_URL"] = f"sqlite:///{DEFAULT_TRACKER_DB}"
    if not env.get("WIDGET_ORIGINS"):
        port = env["WEB_PORT"]
        env["WIDGET_ORIGINS"] = f"http://localhost:{port} http://127.0.0.1:{port}"
    return env


@dataclass(frozen=True)
class ServerSettings:
    """The typed server settings (see :data:`DEFAULTS` for what each one does)."""

    action_timeout: float
    max_message_chars: int
    rate_limit_messages: int
    rate_limit_seconds: float
    long_message_chars: int
    metadata_keys: FrozenSet[str]
    metadata_max_bytes: int
    retention_days: float
    telegram_bot_username: str
    telegram_send_attempts: int
    telegram_send_budget_seconds: float
    telegram_escalation_send_attempts: int
    telegram_escalation_send_budget_seconds: float
    telegram_retry_delay_seconds: float
    embeddings_backend: str
    staff_token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ServerSettings":
        """Reads and checks the settings from an environment mapping.

        Raises:
            SettingsError: a value is not a number or is out of range.
        """
        values = environment(env)

        def number(name: str, kind: type, minimum: float) -> float:
            try:
                value = kind(values[name])
            except ValueError as error:
                raise SettingsError(f"{name} must be a number, not {values[name]!r}") from error
            if value < minimum:
                raise SettingsError(f"{name} must be at least {minimum}, not {value}")
            return value

        return cls(
            action_timeout=number("ACTION_TIMEOUT", float, 0.1),
            max_message_chars=int(number("MAX_MESSAGE_CHARS", int, 1)),
            rate_limit_messages=int(number("RATE_LIMIT_MESSAGES", int, 1)),
            rate_limit_seconds=number("RATE_LIMIT_SECONDS", float, 0.001),
            long_message_chars=int(number("LONG_MESSAGE_CHARS", int, 1)),
            metadata_keys=frozenset(values["METADATA_KEYS"].split()),
            metadata_max_bytes=int(number("METADATA_MAX_BYTES", int, 0)),
            retention_days=number("RETENTION_DAYS", float, 0.0),
            telegram_bot_username=values.get("TELEGRAM_BOT_USERNAME", "").lstrip("@"),
            telegram_send_attempts=int(number("TELEGRAM_SEND_ATTEMPTS", int, 1)),
            telegram_send_budget_seconds=number("TELEGRAM_SEND_BUDGET_SECONDS", float, 0.0),
            telegram_escalation_send_attempts=int(number("TELEGRAM_ESCALATION_SEND_ATTEMPTS", int, 1)),
            telegram_escalation_send_budget_seconds=number(
                "TELEGRAM_ESCALATION_SEND_BUDGET_SECONDS", float, 0.0
            ),
            telegram_retry_delay_seconds=number("TELEGRAM_RETRY_DELAY_SECONDS", float, 0.0),
            embeddings_backend=values["EMBEDDINGS_BACKEND"].strip().lower(),
            staff_token=values.get("STAFF_TOKEN", "").strip(),
        )


@lru_cache(maxsize=1)
def get_server_settings() -> ServerSettings:
    """The process-wide server settings, read from the environment once."""
    return ServerSettings.from_env(os.environ)


# ------------------------------------------------------------------ clinic settings
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
    """The clinic settings file in use: ``$CLINIC_SETTINGS`` or ``clinic.yml``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else DEFAULT_PATH


def load_settings(path: Optional[Path] = None) -> ClinicSettings:
    """Reads and checks a clinic settings file.

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
    """The process-wide clinic settings, loaded once."""
    return load_settings()
