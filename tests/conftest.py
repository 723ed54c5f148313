"""Shared pytest fixtures.

Action tests (rasa-sdk style): ``dispatcher``, ``domain`` and ``make_tracker``.
End-to-end tests: ``trained_model`` (trains only when the data changed, via make) and
``assistant``, a running action server + Rasa server on free ports with a throw-away
SQLite tracker store, shared by the whole session. ``talk`` posts to its REST channel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from serve import DEFAULT_MODEL, Stack, default_env, free_port, local_env  # noqa: E402,F401


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """The real domain.yml, as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    """Builds a rasa-sdk tracker whose latest message has the given intent and text."""

    def build(
        intent: str = "greet",
        text: str = "",
        confidence: float = 1.0,
        slots: Optional[Dict[str, Any]] = None,
        entities: Optional[List[Dict[str, Any]]] = None,
        events: Optional[List[Dict[str, Any]]] = None,
        sender_id: str = "test-sender",
    ) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [],
            "intent_ranking": [{"name": intent, "confidence": confidence}],
        }
        return Tracker.from_dict(
            {
                "sender_id": sender_id,
                "slots": slots or {},
                "latest_message": latest,
                "events": events or [{"event": "user", "text": text, "parse_data": latest}],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            }
        )

    return build


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model for the current data: `make train` retrains only if something changed."""
    subprocess.run(["make", "-s", "train"], cwd=ROOT, check=True)
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def assistant(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Action server + Rasa server on free ports, for the whole test session."""
    workdir = tmp_path_factory.mktemp("assistant")
    stack = Stack(local_env(workdir), model=trained_model, with_web=False, log_dir=workdir / "logs")
    stack.start_all(timeout=240)
    yield stack
    stack.stop_all()


def post_json(url: str, payload: Any, timeout: float = 30) -> Any:
    """POSTs JSON and returns the decoded JSON answer."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode())


@pytest.fixture
def talk(assistant: Stack) -> Callable[[str, str], List[Dict[str, Any]]]:
    """Sends one message over the REST channel and returns the bot's messages."""

    def send(sender: str, message: str) -> List[Dict[str, Any]]:
        return post_json(
            f"{assistant.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message}
        )

    return send


#: Figures that tests want printed at the end of the run, whether they pass or fail.
SUMMARY_KEY = pytest.StashKey[List[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SUMMARY_KEY] = []


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> List[str]:
    """Lines to print in the run's closing summary."""
    return request.config.stash[SUMMARY_KEY]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY_KEY, [])
    if lines:
        terminalreporter.section("held-out figures")
        for line in lines:
            terminalreporter.write_line(line)
