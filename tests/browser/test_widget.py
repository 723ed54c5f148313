"""The clinic website's chat widget (web/widget/) in headless Chromium, against the real assistant.

Screenshots of every run go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
import socket
import urllib.request
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, TypeVar, cast

import pytest
from playwright.sync_api import Locator, Page, Request, expect

if TYPE_CHECKING:
    from scripts.serve import Stack
    from tests.browser.conftest import NewPage, WebServer

P = TypeVar("P", bound=Page)

pytestmark = pytest.mark.e2e

CLINIC_PHONE = "+1 555 010 0100"
BOOKING_URL = "https://sweatclinic.example/book"
GREETING = "Hi! I'm the Sweat Clinic assistant"
HOST = "#sweat-clinic-chat"
MARKUP = "<img src=x onerror=alert(1)>"


# ---- helpers -----------------------------------------------------------------


#: The light question after every FAQ answer and its buttons (knowledge/answers.yml).
FEEDBACK_QUESTION = "Was this helpful?"
FEEDBACK_BUTTONS = ["👍 Yes", "👎 No"]


def goto(page: P, web: WebServer, rasa_url: str, **attributes: Any) -> P:
    """Loads the test page with the widget configured like a clinic would."""
    options = {
        "rasa_url": rasa_url,
        "clinic_name": "Sweat Clinic",
        "clinic_phone": CLINIC_PHONE,
        "booking_url": BOOKING_URL,
        "emergency_number": "911",
        "color": "#0a5c7a",
    }
    options.update(attributes)
    page.goto(web.page(**options))
    expect(launcher(page)).to_be_visible()
    return page


def launcher(page: Page) -> Locator:
    return page.get_by_role("button", name="Questions? Chat with us")


def panel(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Sweat Clinic assistant")


def chat_input(page: Page) -> Locator:
    return page.get_by_label("Your question")


def bot_messages(page: Page) -> Locator:
    return page.locator(".sca-bot")


def user_bubbles(page: Page) -> Locator:
    return page.locator(".sca-user:not([hidden]) .sca-bubble")


def quick_replies(page: Page) -> Locator:
    return page.locator(".sca-quick-btn")


def open_chat(page: Page) -> None:
    """Opens the chat and waits for the assistant's greeting."""
    launcher(page).click()
    expect(panel(page)).to_be_visible()
    expect(bot_messages(page).first).to_contain_text(GREETING)
    expect(page.locator(".sca-typing")).to_be_hidden()


def ask(page: Page, text: str) -> None:
    """Types a question, sends it with Enter and waits for the whole answer."""
    before = bot_messages(page).count()
    chat_input(page).fill(text)
    chat_input(page).press("Enter")
    expect(user_bubbles(page).last).to_contain_text(text)
    expect(bot_messages(page)).not_to_have_count(before)
    expect(page.locator(".sca-typing")).to_be_hidden()


def shadow_eval(page: Page, body: str) -> Any:
    """Evaluates a function body with ``root`` bound to the widget's shadow root."""
    return page.evaluate(f"() => {{ const root = document.querySelector('{HOST}').shadowRoot; {body} }}")


def stored(page: Page) -> Dict[str, Any]:
    return page.evaluate("() => JSON.parse(localStorage.getItem('sweat-clinic-chat:v1'))")


def axe_violations(page: Page, axe_source: Path) -> List[Dict[str, Any]]:
    """Serious and critical axe-core violations on the whole page, widget included."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_source))
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => [].concat(n.target).join(' ') + ' | ' + n.failureSummary)
        }))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def webhook(assistant: Stack) -> str:
    return f"{assistant.rasa_url}/webhooks/rest/webhook"


def post_recorder(into: List[Dict[str, Any]]) -> Callable[[Request], None]:
    """A page "request" handler that appends each POST's JSON body to ``into``."""

    def record(request: Request) -> None:
        if request.method == "POST":
            into.append(json.loads(cast(str, request.post_data)))  # the widget's POSTs have a body

    return record


# ---- conversation ----------------------------------------------------------------


def test_desktop_conversation_with_quick_replies(
    new_page: NewPage, web: WebServer, assistant: Stack, screenshots: Path
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    page.screenshot(path=str(screenshots / "widget-1280x800-closed.png"))
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    expect(panel(page)).to_be_hidden()

    open_chat(page)
    expect(launcher(page)).to_be_hidden()
    expect(chat_input(page)).to_be_focused()
    box = panel(page).bounding_box()
    assert box is not None
    assert box["width"] <= 420 and box["x"] > 800, f"desktop panel should sit in the corner: {box}"
    # The disclaimer is always there: automated, not a doctor, emergency number.
    disclaimer = page.locator(".sca-disclaimer")
    expect(disclaimer).to_contain_text("Automated assistant, not a doctor")
    expect(disclaimer.get_by_role("link", name="Call 911")).to_have_attribute("href", "tel:911")

    ask(page, "how much does it cost?")
    expect(bot_messages(page).filter(has_text="$50 to $200")).to_have_count(1)
    # The answer, then the light feedback question; its 👍 / 👎 follow the topics.
    expect(bot_messages(page).last).to_have_text("Assistant: " + FEEDBACK_QUESTION)
    expect(quick_replies(page)).to_have_text(
        ["Does insurance cover it?", "Can I do it at home?", "What is a session like?"] + FEEDBACK_BUTTONS
    )
    expect(page.locator(".sca-quick")).to_have_count(1)
    page.screenshot(path=str(screenshots / "widget-1280x800-open.png"))

    # Tapping a quick reply sends its payload and shows its title as the patient's message.
    requests: List[Dict[str, Any]] = []
    page.on("request", post_recorder(requests))
    before = bot_messages(page).count()
    quick_replies(page).first.click()
    expect(user_bubbles(page).last).to_have_text("You: Does insurance cover it?")
    expect(bot_messages(page)).to_have_count(before + 2)  # the answer and the feedback question
    expect(bot_messages(page).nth(before)).to_contain_text("insurance")
    assert requests[-1]["message"] == "/ask_insurance"
    expect(page.locator(".sca-log")).not_to_contain_text("/ask_insurance")
    expect(chat_input(page)).to_be_focused()
    expect(page.locator(".sca-log")).to_have_attribute("aria-live", "polite")


def test_escalation_cards_on_a_phone(
    new_page: NewPage, web: WebServer, assistant: Stack, screenshots: Path
) -> None:
    page = goto(new_page(phone=True), web, assistant.rasa_url)
    open_chat(page)

    ask(page, "I'm pregnant, how much does it cost?")
    urgent = page.locator(".sca-card-urgent")
    expect(urgent).to_be_visible()
    expect(urgent).to_contain_text("healthcare professional")
    expect(urgent).to_have_css("background-color", "rgb(254, 243, 199)")  # amber
    expect(urgent.get_by_role("link", name=f"Call {CLINIC_PHONE}")).to_have_attribute(
        "href", "tel:+15550100100"
    )
    book = urgent.get_by_role("link", name="Book a consultation")
    expect(book).to_have_attribute("href", BOOKING_URL)
    expect(book).to_have_attribute("rel", "noopener noreferrer")
    expect(quick_replies(page)).to_have_text(["Contact the clinic"])
    # The booking link in the assistant's text is a real link too (built as an element, not HTML).
    expect(bot_messages(page).nth(-2).get_by_role("link", name=BOOKING_URL)).to_have_attribute(
        "href", BOOKING_URL
    )
    page.screenshot(path=str(screenshots / "widget-360x640-urgent.png"))

    ask(page, "my chest hurts and I'm sweating")
    emergency = page.locator(".sca-card-emergency")
    expect(emergency).to_be_visible()
    expect(emergency).to_be_in_viewport()
    expect(emergency).to_have_css("background-color", "rgb(185, 28, 28)")  # red
    call = emergency.get_by_role("link", name="Call 911")
    expect(call).to_have_attribute("href", "tel:911")
    expect(bot_messages(page).nth(-2)).to_contain_text("Call emergency services now")
    call_box = call.bounding_box()
    assert call_box is not None and call_box["height"] >= 48
    page.screenshot(path=str(screenshots / "widget-360x640-emergency.png"))


def test_history_survives_reload_and_start_over_clears_it(
    new_page: NewPage, web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    ask(page, "how much does it cost?")
    messages = page.locator(".sca-msg:not([hidden])")
    before = messages.all_inner_texts()
    sender = stored(page)["sender"]
    assert len(sender) == 32

    page.reload()
    sent: List[Dict[str, Any]] = []
    page.on("request", post_recorder(sent))
    launcher(page).click()
    expect(messages).to_have_count(len(before))
    assert messages.all_inner_texts() == before
    expect(quick_replies(page)).to_have_count(3 + len(FEEDBACK_BUTTONS))
    assert stored(page)["sender"] == sender

    # The conversation goes on with the same sender id, and no second greeting was sent.
    ask(page, "Does insurance cover it?")
    assert sent == [{"sender": sender, "message": "Does insurance cover it?"}]

    page.get_by_role("button", name="Start over").click()
    expect(messages).to_have_count(1)
    expect(messages.first).to_contain_text(GREETING)
    expect(chat_input(page)).to_be_focused()
    assert stored(page)["sender"] != sender
    page.reload()
    launcher(page).click()
    expect(messages).to_have_count(1)


def test_deleting_the_conversation_clears_this_device_too(
    new_page: NewPage, web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    ask(page, "how much does it cost?")
    sender = stored(page)["sender"]

    ask(page, "delete my data")
    expect(quick_replies(page)).to_have_text(["Yes, delete it", "No, keep it"])
    page.get_by_role("button", name="Yes, delete it").click()
    messages = page.locator(".sca-msg:not([hidden])")
    expect(messages).to_have_count(1)
    expect(messages.first).to_contain_text("I've deleted this conversation")
    state = stored(page)
    assert state["sender"] != sender
    assert "$50 to $200" not in json.dumps(state)
    page.reload()
    launcher(page).click()
    expect(messages).to_have_count(1)
    expect(page.locator(".sca-log")).not_to_contain_text("$50 to $200")


# ---- errors ----------------------------------------------------------------------


def test_assistant_down_keeps_the_message_and_retry_sends_it(
    new_page: NewPage, web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    page.route(webhook(assistant), lambda route: route.abort("connectionrefused"))

    chat_input(page).fill("Is it safe to use?")
    chat_input(page).press("Enter")
    error = page.locator(".sca-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("can't be reached")
    expect(error).to_contain_text("Your message is kept here")
    expect(error.get_by_role("link", name=CLINIC_PHONE)).to_have_attribute("href", "tel:+15550100100")
    expect(user_bubbles(page).last).to_have_text("You: Is it safe to use?")
    expect(page.locator(".sca-typing")).to_be_hidden()
    assert stored(page)["entries"][-1]["status"] == "failed"

    # Still down: a retry fails the same way and the message is still kept, once.
    error.get_by_role("button", name="Retry").click()
    expect(page.locator(".sca-error")).to_have_count(1)
    expect(page.locator(".sca-error")).to_contain_text("can't be reached")
    expect(user_bubbles(page).filter(has_text="Is it safe to use?")).to_have_count(1)

    # A reload does not lose it either.
    page.reload()
    launcher(page).click()
    expect(page.locator(".sca-error")).to_contain_text("can't be reached")
    expect(user_bubbles(page).filter(has_text="Is it safe to use?")).to_have_count(1)

    # Back up: Retry delivers it and the answer comes.
    page.unroute(webhook(assistant))
    before = bot_messages(page).count()
    page.get_by_role("button", name="Retry").click()
    expect(bot_messages(page)).to_have_count(before + 2)  # the answer and the feedback question
    expect(page.locator(".sca-error")).to_have_count(0)
    expect(user_bubbles(page).filter(has_text="Is it safe to use?")).to_have_count(1)
    expect(bot_messages(page).last).not_to_contain_text("didn't quite catch")
    entries = stored(page)["entries"]
    # The patient's message, then the answer and the feedback question.
    assert entries[-3]["from"] == "user" and entries[-3]["status"] == "sent", entries[-3:]


def test_nothing_listening_shows_the_clinic_phone(new_page: NewPage, web: WebServer) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    page = goto(new_page(phone=True), web, dead)
    launcher(page).click()
    error = page.locator(".sca-error")
    # The greeting could not be fetched: say so, give the number, offer a retry.
    expect(error).to_contain_text("can't be reached")
    expect(error.get_by_role("link", name=CLINIC_PHONE)).to_have_attribute("href", "tel:+15550100100")
    expect(error.get_by_role("button", name="Retry")).to_be_visible()

    chat_input(page).fill("How does it work?")
    chat_input(page).press("Enter")
    expect(page.locator(".sca-error")).to_have_count(2)
    expect(user_bubbles(page)).to_have_text(["You: How does it work?"])
    expect(chat_input(page)).to_have_value("")


def test_slow_or_empty_answers_are_errors_with_retry(
    new_page: NewPage, web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), web, assistant.rasa_url, timeout=1500)
    open_chat(page)

    held = []
    page.route(webhook(assistant), lambda route: held.append(route))  # never answers
    chat_input(page).fill("How long until it works?")
    chat_input(page).press("Enter")
    expect(page.locator(".sca-typing")).to_be_visible()
    expect(page.locator(".sca-error")).to_contain_text("taking too long")
    expect(page.locator(".sca-error")).to_contain_text(CLINIC_PHONE)
    expect(page.locator(".sca-typing")).to_be_hidden()
    page.unroute(webhook(assistant))

    origin = web.url
    page.route(
        webhook(assistant),
        lambda route: route.fulfill(json=[], headers={"Access-Control-Allow-Origin": origin}),
    )
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".sca-error")).to_contain_text("didn't answer")
    expect(user_bubbles(page).filter(has_text="How long until it works?")).to_have_count(1)
    page.unroute(webhook(assistant))

    page.route(
        webhook(assistant),
        lambda route: route.fulfill(
            status=500, json={"error": "boom"}, headers={"Access-Control-Allow-Origin": origin}
        ),
    )
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".sca-error")).to_contain_text("went wrong at the assistant's end")
    expect(page.locator(".sca-error")).to_have_count(1)
    page.unroute(webhook(assistant))

    before = bot_messages(page).count()
    page.get_by_role("button", name="Retry").click()
    expect(bot_messages(page)).to_have_count(before + 2)  # the answer and the feedback question
    expect(page.locator(".sca-error")).to_have_count(0)


# ---- safety of rendering -----------------------------------------------------------


def test_markup_is_shown_as_text_never_run(new_page: NewPage, web: WebServer, assistant: Stack) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)

    ask(page, MARKUP)
    expect(user_bubbles(page).last).to_have_text(f"You: {MARKUP}")
    assert shadow_eval(page, "return root.querySelectorAll('img, script, b').length;") == 0

    # The assistant's side: text, buttons and a card with a non-phone "number".
    origin = web.url
    hostile = [
        {
            "recipient_id": "x",
            "text": "<b>bold</b> <img src=x onerror=alert(2)> <script>alert(3)</script>",
            "buttons": [{"title": "<img src=x onerror=alert(5)>", "payload": "/greet"}],
        },
        {"recipient_id": "x", "text": "javascript:alert(4) http://x.example/<svg/onload=alert(7)>"},
        {
            "recipient_id": "x",
            "custom": {"escalation": {"level": "emergency", "phone": "javascript:alert(6)"}},
        },
    ]
    page.route(
        webhook(assistant),
        lambda route: route.fulfill(json=hostile, headers={"Access-Control-Allow-Origin": origin}),
    )
    ask(page, "hello")
    expect(bot_messages(page).nth(-3)).to_contain_text("<b>bold</b> <img src=x onerror=alert(2)>")
    expect(quick_replies(page)).to_have_text(["<img src=x onerror=alert(5)>"])
    expect(page.locator(".sca-card-emergency a")).to_have_attribute("href", "tel:911")
    links = shadow_eval(
        page, "return [...root.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));"
    )
    assert all(h.startswith(("tel:", "http://", "https://")) for h in links), links
    assert shadow_eval(page, "return root.querySelectorAll('img, script, b, svg').length;") == 0
    page.unroute(webhook(assistant))

    quick_replies(page).first.click()
    expect(user_bubbles(page).last).to_have_text("You: <img src=x onerror=alert(5)>")
    expect(page.locator(".sca-typing")).to_be_hidden()
    assert page.locator("img").count() == 0
    assert page.dialogs == []


# ---- keyboard, phones, accessibility ------------------------------------------------


def test_keyboard_only(new_page: NewPage, web: WebServer, assistant: Stack) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="A link before the widget")).to_be_focused()
    page.keyboard.press("Tab")
    expect(launcher(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel(page)).to_be_visible()
    expect(chat_input(page)).to_be_focused()
    expect(bot_messages(page).first).to_contain_text(GREETING)

    page.keyboard.type("how much does it cost?")
    page.keyboard.press("Enter")
    expect(bot_messages(page).filter(has_text="$50 to $200")).to_have_count(1)
    expect(bot_messages(page).last).to_have_text("Assistant: " + FEEDBACK_QUESTION)
    # Back from the input: the quick replies come right before it (👍 / 👎 last).
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="👎 No")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="What is a session like?")).to_be_focused()
    page.keyboard.press("Enter")
    expect(user_bubbles(page).last).to_have_text("You: What is a session like?")
    expect(chat_input(page)).to_be_focused()
    expect(page.locator(".sca-typing")).to_be_hidden()

    page.keyboard.press("Escape")
    expect(panel(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Space")
    expect(chat_input(page)).to_be_focused()
    expect(user_bubbles(page).last).to_have_text("You: What is a session like?")

    # Close from the header, by keyboard.
    for _ in range(40):
        page.keyboard.press("Shift+Tab")
        if page.get_by_role("button", name="Close chat").evaluate("b => b.matches(':focus')"):
            break
    expect(page.get_by_role("button", name="Close chat")).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()


def test_phone_layout(new_page: NewPage, web: WebServer, assistant: Stack, screenshots: Path) -> None:
    page = goto(new_page(phone=True), web, assistant.rasa_url)
    page.screenshot(path=str(screenshots / "widget-360x640-closed.png"))
    box = launcher(page).bounding_box()
    assert box is not None
    assert box["width"] >= 44 and box["height"] >= 44

    launcher(page).tap()
    expect(bot_messages(page).first).to_contain_text(GREETING)
    box = panel(page).bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 360, 640), box
    expect(panel(page)).to_have_attribute("aria-modal", "true")
    ask(page, "how much does it cost?")
    page.screenshot(path=str(screenshots / "widget-360x640-open.png"))

    small_targets = shadow_eval(
        page,
        """return [...root.querySelectorAll('button, a[href], input')]
            .filter(e => e.getClientRects().length && !e.closest('.sca-bubble'))
            .map(e => [e.textContent || e.outerHTML.slice(0, 40), e.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([t, r]) => `${t}: ${r.width}x${r.height}`);""",
    )
    assert small_targets == []
    small_text = shadow_eval(
        page,
        """return [...root.querySelectorAll('*')]
            .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
            .filter(e => parseFloat(getComputedStyle(e).fontSize) < 16)
            .map(e => `${e.className}: ${getComputedStyle(e).fontSize}`);""",
    )
    assert small_text == []
    expect(chat_input(page)).to_have_css("font-size", "16px")  # no zoom-on-focus in iOS Safari

    # Full screen is modal: Tab cycles inside the chat.
    send = page.get_by_role("button", name="Send")
    send.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Start over")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(send).to_be_focused()
    assert page.evaluate("() => document.documentElement.style.overflow") == "hidden"

    # An on-screen keyboard shrinks the visible area: the input stays above it.
    chat_input(page).focus()
    page.set_viewport_size({"width": 360, "height": 300})
    page.wait_for_function(
        f"""() => {{
            const root = document.querySelector('{HOST}').shadowRoot;
            const form = root.querySelector('.sca-form').getBoundingClientRect();
            const panel = root.querySelector('.sca-panel').getBoundingClientRect();
            return panel.height === 300 && form.bottom <= 300 && form.top >= 150;
        }}"""
    )
    expect(chat_input(page)).to_be_in_viewport()
    page.screenshot(path=str(screenshots / "widget-360x300-keyboard.png"))
    page.set_viewport_size({"width": 360, "height": 640})

    page.keyboard.press("Escape")
    expect(panel(page)).to_be_hidden()
    assert page.evaluate("() => document.documentElement.style.overflow") == ""


@pytest.mark.parametrize("phone", [True, False], ids=["360x640", "1280x800"])
def test_axe_no_serious_violations(
    new_page: NewPage, web: WebServer, assistant: Stack, axe_source: Path, screenshots: Path, phone: bool
) -> None:
    page = goto(new_page(phone=phone), web, assistant.rasa_url)
    size = "360x640" if phone else "1280x800"
    states = {"closed": axe_violations(page, axe_source)}

    open_chat(page)
    states["greeting"] = axe_violations(page, axe_source)
    ask(page, "I'm pregnant, how much does it cost?")
    states["urgent"] = axe_violations(page, axe_source)
    ask(page, "my chest hurts and I'm sweating")
    states["emergency"] = axe_violations(page, axe_source)
    page.screenshot(path=str(screenshots / f"widget-{size}-cards.png"))

    page.route(webhook(assistant), lambda route: route.abort("connectionrefused"))
    chat_input(page).fill("Is it safe?")
    chat_input(page).press("Enter")
    expect(page.locator(".sca-error")).to_be_visible()
    states["error"] = axe_violations(page, axe_source)
    page.screenshot(path=str(screenshots / f"widget-{size}-error.png"))

    failures = {state: found for state, found in states.items() if found}
    assert not failures, json.dumps(failures, indent=1)


def test_clinic_colours_keep_aa_contrast(
    new_page: NewPage, web: WebServer, assistant: Stack, axe_source: Path
) -> None:
    """A pale brand colour gets dark text; as text on white it is darkened to 4.5:1."""
    page = goto(new_page(), web, assistant.rasa_url, color="#8fd3ff")
    expect(launcher(page)).to_have_css("background-color", "rgb(143, 211, 255)")
    expect(launcher(page)).to_have_css("color", "rgb(17, 24, 39)")
    open_chat(page)
    assert axe_violations(page, axe_source) == []


def test_demo_page(
    new_page: NewPage, web: WebServer, assistant: Stack, axe_source: Path, screenshots: Path
) -> None:
    """web/index.html, what `make run` serves: the widget comes from its one script tag."""
    for phone, size in ((False, "1280x800"), (True, "360x640")):
        page = new_page(phone=phone)
        page.goto(f"{web.url}/index.html?rasa={assistant.rasa_url}")
        expect(page.get_by_role("heading", name="Excessive sweating? We can help.")).to_be_visible()
        page.screenshot(path=str(screenshots / f"demo-{size}.png"))
        assert axe_violations(page, axe_source) == []
        # ?rasa= (demo page only) points the widget at the test assistant.
        with page.expect_request(lambda r: r.url == webhook(assistant)):
            open_chat(page)
        ask(page, "what does it cost?")
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=str(screenshots / f"demo-{size}-open.png"))


# ---- CORS ---------------------------------------------------------------------------


def _post_with_origin(url: str, origin: str, method: str = "POST") -> Message:
    headers = {"Origin": origin, "Content-Type": "application/json"}
    data = json.dumps({"sender": "cors-test", "message": "hello"}).encode() if method == "POST" else None
    if method == "OPTIONS":
        headers.update(
            {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        )
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers


@pytest.mark.parametrize("method", ["POST", "OPTIONS"])
def test_cors_allows_only_the_configured_origins(assistant: Stack, method: str) -> None:
    allowed = assistant.env["WIDGET_ORIGINS"].split()
    assert allowed and "*" not in allowed
    for origin in allowed:
        headers = _post_with_origin(webhook(assistant), origin, method)
        assert headers.get("Access-Control-Allow-Origin") == origin
    for origin in ("http://evil.example", "http://localhost:1", "null"):
        headers = _post_with_origin(webhook(assistant), origin, method)
        assert headers.get("Access-Control-Allow-Origin") is None, origin


def test_widget_on_a_foreign_origin_is_refused_by_the_browser(
    new_page: NewPage, other_origin_web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), other_origin_web, assistant.rasa_url)
    launcher(page).click()
    expect(page.locator(".sca-error")).to_contain_text("can't be reached")
    expect(bot_messages(page)).to_have_count(0)


def test_feedback_buttons_record_the_answer_and_a_thumbs_down_offers_the_clinic(
    new_page: NewPage, web: WebServer, assistant: Stack
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    ask(page, "Does insurance cover it?")
    requests: List[Dict[str, Any]] = []
    page.on("request", post_recorder(requests))
    page.get_by_role("button", name="👎 No").click()
    expect(user_bubbles(page).last).to_have_text("You: 👎 No")
    expect(bot_messages(page).last).to_contain_text("Sorry that didn't help")
    expect(bot_messages(page).last).to_contain_text(CLINIC_PHONE)
    assert requests[-1]["message"] == "/rate_unhelpful"
    # Never blocking: the next question is answered as usual.
    ask(page, "how much does it cost?")
    expect(bot_messages(page).filter(has_text="$50 to $200")).to_have_count(1)
