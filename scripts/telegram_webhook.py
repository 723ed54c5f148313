"""Registers, shows or removes the Telegram webhook (Bot API setWebhook and friends).

    .venv/bin/python scripts/telegram_webhook.py set     # what `make telegram-webhook` does
    .venv/bin/python scripts/telegram_webhook.py info    # Telegram's view, last error
    .venv/bin/python scripts/telegram_webhook.py delete  # stop the updates

Reads the same environment variables as the Rasa server (docs/telegram.md):
TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET and, optionally,
TELEGRAM_API_BASE_URL. ``set`` registers the webhook with the secret Telegram must send
back in every request's X-Telegram-Bot-Api-Secret-Token header, and asks only for the
update types the assistant answers. Standard library only; prints neither the token
nor the secret.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import environment  # noqa: E402

DEFAULT_API_BASE_URL = "https://api.telegram.org"
#: Keep in step with addons/telegram.py (ALLOWED_UPDATES, SECRET_PATTERN).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TOKEN_PATTERN = re.compile(r"^\d+:\S+$")


class WebhookError(Exception):
    """A setting is missing or wrong, or the Bot API refused the call."""


def bot_api(method: str, params: Dict[str, Any], env: Dict[str, str], timeout: float = 20) -> Any:
    """Calls one Bot API method with JSON parameters and returns its ``result``."""
    token = env.get("TELEGRAM_TOKEN", "").strip()
    if not TOKEN_PATTERN.match(token):
        raise WebhookError("TELEGRAM_TOKEN is not set or does not look like 123456:ABC...")
    base = (env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL).rstrip("/")
    request = urllib.request.Request(
        f"{base}/bot{token}/{method}",
        data=json.dumps(params).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        try:
            description = json.loads(error.read().decode("utf-8")).get("description", "")
        except ValueError:
            description = ""
        raise WebhookError(f"{method}: HTTP {error.code} {description}".rstrip()) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        # The reason only: the URL holds the token.
        reason = getattr(error, "reason", None) or type(error).__name__
        raise WebhookError(f"{method}: cannot reach the Bot API at {base} ({reason})") from None
    if not body.get("ok"):
        raise WebhookError(f"{method}: {body.get('description', 'refused')}")
    return body.get("result")


def webhook_params(env: Dict[str, str], drop_pending: bool = False) -> Dict[str, Any]:
    """The setWebhook parameters, after checking the settings."""
    url = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    problems: List[str] = []
    parsed = urlparse(url)
    if not url:
        problems.append("TELEGRAM_WEBHOOK_URL is not set")
    elif parsed.scheme != "https" and not env.get("TELEGRAM_API_BASE_URL", "").strip():
        # Telegram's own servers only call https URLs; a self-hosted one may allow http.
        problems.append("TELEGRAM_WEBHOOK_URL must start with https://")
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append("TELEGRAM_WEBHOOK_URL is not a URL")
    if not SECRET_PATTERN.match(secret):
        problems.append(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if problems:
        raise WebhookError("; ".join(problems))
    params: Dict[str, Any] = {
        "url": url,
        "secret_token": secret,
        "allowed_updates": ALLOWED_UPDATES,
    }
    if drop_pending:
        params["drop_pending_updates"] = True
    return params


def main(argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="set", choices=["set", "info", "delete"])
    parser.add_argument(
        "--drop-pending-updates",
        action="store_true",
        help="discard the updates Telegram queued while the webhook was down",
    )
    args = parser.parse_args(argv)
    env = environment(env)
    try:
        if args.command == "set":
            params = webhook_params(env, args.drop_pending_updates)
            bot_api("setWebhook", params, env)
            updates = ", ".join(ALLOWED_UPDATES)
            print(f"Webhook set: {params['url']} (updates: {updates}, secret token on)")
        elif args.command == "delete":
            bot_api("deleteWebhook", {"drop_pending_updates": args.drop_pending_updates}, env)
            print("Webhook deleted.")
        else:
            info = bot_api("getWebhookInfo", {}, env) or {}
            print(f"URL:              {info.get('url') or '(none)'}")
            print(f"Pending updates:  {info.get('pending_update_count', 0)}")
            allowed = ", ".join(info.get("allowed_updates") or []) or "(Telegram default)"
            print(f"Allowed updates:  {allowed}")
            if info.get("last_error_message"):
                print(f"Last error:       {info['last_error_message']}")
    except WebhookError as error:
        print(f"Telegram webhook: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
