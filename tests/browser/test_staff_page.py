"""The staff report page (addons/staff.py) in headless Chromium, against the real assistant.

Without STAFF_TOKEN the page does not exist (404); with it, nothing of the report is shown
without logging in with the token; logged in, the page shows the figures of known
conversations and its charts render, and the browser makes no request to any other
server. A screenshot goes to artifacts/screenshots/staff-page.png.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import post_json

from serve import Stack, local_env

if TYPE_CHECKING:
    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-staff-token-" + uuid.uuid4().hex
PAGE = "/webhooks/staff/"


def http(
    url: str, method: str = "GET", body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def rest(stack: Stack, sender: str, message: str) -> List[Dict[str, Any]]:
    result: List[Dict[str, Any]] = post_json(
        f"{stack.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message}, timeout=60
    )
    return result


@pytest.fixture(scope="module")
def staff_stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The assistant with the staff page on, and known conversations in its store."""
    workdir = tmp_path_factory.mktemp("staff")
    stack = Stack(
        local_env(workdir, {"STAFF_TOKEN": TOKEN}),
        model=trained_model,
        with_web=False,
        log_dir=workdir / "logs",
    )
    stack.start_all(timeout=300)
    try:
        run = uuid.uuid4().hex[:8]
        rest(stack, f"a-{run}", "how much does it cost?")
        rest(stack, f"a-{run}", "does insurance pay for it?")
        rest(stack, f"c-{run}", "ok im 20 wks pregnant tho, can i still do it?")
        rest(stack, f"d-{run}", "my chest feels really tight and im soaked in sweat")
        rest(stack, f"e-{run}", "My name is Zelda, should i use tap water or distilled?")
        rest(stack, f"f-{run}", "hmm")
        rest(stack, f"a-{run}", "/rate_helpful")
        yield stack
    finally:
        stack.stop_all()


def staff_report(stack: Stack) -> Dict[str, Any]:
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/staff/report.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def record_requests(page: Page) -> List[str]:
    urls: List[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def log_in(page: Page, stack: Stack, token: str = TOKEN) -> Any:
    page.get_by_label("Staff token").fill(token)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def figure(page: Page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').inner_text()


def test_page_does_not_exist_without_a_staff_token(assistant: Stack, new_page: NewPage) -> None:
    base = assistant.rasa_url + PAGE
    assert http(base) == 404
    assert http(base + "report.json", headers={"Authorization": "Bearer anything-at-all-1234"}) == 404
    assert (
        http(
            base + "login",
            "POST",
            b"token=anything-at-all-1234",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        == 404
    )
    assert http(base + "staff.css") == 404
    page = new_page()
    answer = page.goto(base)
    assert answer is not None and answer.status == 404
    assert page.locator("[data-figure]").count() == 0


def test_without_the_token_the_page_is_refused(staff_stack: Stack, new_page: NewPage) -> None:
    page = new_page()
    requests = record_requests(page)
    answer = page.goto(staff_stack.rasa_url + PAGE)
    assert answer is not None and answer.status == 401
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    assert page.locator("[data-figure]").count() == 0 and "cost" not in page.content()
    # A wrong token: refused again, nothing set.
    log_in(page, staff_stack, token=TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1"))
    expect(page.get_by_role("alert")).to_have_text("That token is not right.")
    assert page.locator("[data-figure]").count() == 0
    assert page.context.cookies() == []
    # A forged session cookie, and the JSON without a token.
    page.context.add_cookies(
        [{"name": "staff_session", "value": "9999999999.00ff", "url": staff_stack.rasa_url + PAGE}]
    )
    answer = page.goto(staff_stack.rasa_url + PAGE)
    assert answer is not None and answer.status == 401
    assert http(staff_stack.rasa_url + PAGE + "report.json") == 401
    assert all(url.startswith(staff_stack.rasa_url + "/") for url in requests), requests
    assert all(TOKEN not in url for url in requests)


def test_with_the_token_the_page_shows_the_figures_and_charts(
    staff_stack: Stack, new_page: NewPage, screenshots: Path
) -> None:
    page = new_page()
    requests = record_requests(page)
    page.goto(staff_stack.rasa_url + PAGE)
    log_in(page, staff_stack)
    expect(page.get_by_role("heading", name="What patients asked the assistant")).to_be_visible()
    assert page.url == staff_stack.rasa_url + PAGE  # no token in the URL
    [cookie] = page.context.cookies()
    assert cookie["name"] == "staff_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"] and cookie["path"] == "/webhooks/staff"

    data = staff_report(staff_stack)
    expected: Dict[str, Tuple[str, int]] = {
        "conversations": ("conversations", 5),
        "senders": ("senders", 5),
        "messages": ("messages", 7),
        "fallback": ("fallback", 1),
        "not_covered": ("not_covered", 1),
    }
    for key, (name, value) in expected.items():
        assert data[key] == value, (key, data[key])
        assert figure(page, name) == str(value)
    assert figure(page, "escalations-urgent") == "1" and figure(page, "escalations-emergency") == "1"
    assert data["topics"] == {"cost": 1, "insurance": 1}
    assert page.locator('tr[data-figure="channel"]').all_inner_texts() == ["rest\t5\t" + str(7)]

    # Answers per topic: one bar per topic, sized by its count, rendered.
    bars = page.locator("#chart-topics rect")
    assert bars.count() == 2
    assert {
        bars.nth(i).get_attribute("data-key"): bars.nth(i).get_attribute("data-count") for i in range(2)
    } == {
        "cost": "1",
        "insurance": "1",
    }
    # Topics over time and escalations over time: today's bars.
    over_time = page.locator("#chart-topics-time rect")
    assert sorted(over_time.nth(i).get_attribute("data-key") or "" for i in range(over_time.count())) == [
        "cost",
        "insurance",
    ]
    escalations = page.locator("#chart-escalations rect")
    assert sorted(
        (escalations.nth(i).get_attribute("data-key"), escalations.nth(i).get_attribute("data-count"))
        for i in range(escalations.count())
    ) == [("emergency", "1"), ("urgent", "1")]
    for chart in ("#chart-topics", "#chart-topics-time", "#chart-escalations"):
        box = page.locator(chart).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 40, (chart, box)
        bar = page.locator(f"{chart} rect").first.bounding_box()
        assert bar is not None and bar["width"] > 0 and bar["height"] > 0, (chart, bar)
    # The stylesheet applied (same server): the summary is a grid.
    assert page.locator(".summary").evaluate("e => getComputedStyle(e).display") == "grid"

    reasons = page.locator('tr[data-figure="reason"]').all_inner_texts()
    assert sorted(reasons) == ["chest_pain\t1", "pregnancy\t1"]
    unanswered = page.locator('tr[data-figure="unanswered"]').all_inner_texts()
    assert unanswered == ["1\thmm", "1\tMy name is [name], should i use tap water or distilled?"]
    assert "Zelda" not in page.content()
    # The 👍 came after the insurance answer: it is about that one, not the cost.
    assert page.locator('tr[data-figure="feedback"]').all_inner_texts() == ["insurance\t1\t0"]

    page.screenshot(path=str(screenshots / "staff-page.png"), full_page=True)
    assert requests and all(url.startswith(staff_stack.rasa_url + "/") for url in requests), requests
    assert all(TOKEN not in url for url in requests)

    # The period form: a day with nothing in it.
    page.get_by_label("From (included)").fill("2020-01-01")
    page.get_by_label("Until (not included)").fill("2020-01-02")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert figure(page, "messages") == "0" and page.locator("#chart-topics").count() == 0

    # Logging out ends the session.
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()
    answer = page.goto(staff_stack.rasa_url + PAGE)
    assert answer is not None and answer.status == 401
    # Logins are logged, the token never (nor the patients' words).
    assert staff_stack.log_dir is not None
    log = (staff_stack.log_dir / "rasa.log").read_text(errors="replace")
    assert "Staff login" in log and TOKEN not in log and "tap water" not in log


def test_the_page_sends_no_script_and_forbids_other_sources(staff_stack: Stack, new_page: NewPage) -> None:
    page = new_page()
    page.goto(staff_stack.rasa_url + PAGE)
    log_in(page, staff_stack)
    answer = page.goto(staff_stack.rasa_url + PAGE)
    assert answer is not None and answer.status == 200
    headers = answer.headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
    assert page.locator("script").count() == 0
