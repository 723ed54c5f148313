"""What the guard says when it answers instead of the assistant.

Each reply names the emergency number: a patient whose message could not be read may
be in one. Texts are built when needed from the clinic settings (``core.settings``).
"""

from __future__ import annotations

from core.settings import get_settings


def empty() -> str:
    """The reply to a message with nothing readable in it."""
    return (
        "Your message looks empty. What would you like to know about sweating or "
        f"iontophoresis? In an emergency, call {get_settings().emergency_number}."
    )


def too_long(limit: int) -> str:
    """The reply to a message over the length limit."""
    return (
        f"Please keep your message shorter (under {limit:,} characters) so I can help. "
        f"If this is an emergency, call {get_settings().emergency_number} now."
    )


def unknown_command() -> str:
    """The reply to a "/command" the assistant doesn't know, with no text after it."""
    return (
        "I don't know that command. Please type your question in your own words. "
        f"In an emergency, call {get_settings().emergency_number}."
    )


def slow_down() -> str:
    """The reply to a sender who is sending too fast."""
    return (
        "You're sending messages faster than I can answer. Please wait a few seconds and "
        f"try again. In an emergency, call {get_settings().emergency_number}."
    )


def apology() -> str:
    """What the patient reads when a turn produced no reply or could not be saved."""
    settings = get_settings()
    return (
        "Sorry, I can't answer that right now. Please try again in a moment, or call "
        f"{settings.clinic_name} on {settings.clinic_phone}. In an emergency, call "
        f"{settings.emergency_number}."
    )


def erase_failed() -> str:
    """What the patient reads when "delete my data" could not be carried out."""
    settings = get_settings()
    return (
        "Sorry, I couldn't delete this conversation just now, so it is still stored. "
        f"Please try again in a few minutes, or call {settings.clinic_name} on "
        f"{settings.clinic_phone} and ask them to delete it."
    )
