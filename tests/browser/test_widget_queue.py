"""The widget never drops a message sent while an answer is still pending.

The assistant's answers are held back with ``page.route`` (``held_replies`` in
conftest.py), so "typing fast while the reply is pending" happens every time, not by
luck: each held request is let through to the real assistant, failed, or left to time
out, one at a time, while the test watches the page.
"""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Tuple

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_widget import (
    GREETING,
    axe_violations,
    bot_messages,
    chat_input,
    goto,
    launcher,
    open_chat,
    quick_replies,
    stored,
    webhook,
)

if TYPE_CHECKING:
    from scripts.serve import Stack
    from tests.browser.conftest import HeldReplies, NewPage, WebServer

    Hold = Callable[[Page, str], HeldReplies]

pytestmark = pytest.mark.e2e

#: Questions and a phrase from each one's answer (knowledge/answers.yml).
QUESTIONS = [
    ("how much does it cost?", "$50 to $200"),
    ("Does insurance cover it?", "health insurance plans"),
    ("Can I do it at home?", "device made for home use"),
    ("How does it work?", "mild electric current"),
    ("Is it safe to use?", "safe and non-invasive"),
]


def user_message(page: Page, text: str) -> Locator:
    """The patient's message (bubble and its "Sending…"/"Queued"/"Not sent" mark)."""
    return page.locator(".sca-user:not([hidden])").filter(has_text=text)


def state_of(page: Page, text: str) -> Locator:
    return user_message(page, text).locator(".sca-state")


def send(page: Page, text: str) -> None:
    """Types and sends a message without waiting for anything (as a patient typing fast)."""
    chat_input(page).fill(text)
    chat_input(page).press("Enter")


def transcript(page: Page) -> List[Tuple[str, str]]:
    """The visible conversation, top to bottom: ("user" | "bot", text)."""
    turns = page.locator(".sca-msg:not([hidden])").evaluate_all(
        "ns => ns.map(n => [n.classList.contains('sca-user') ? 'user' : 'bot', n.textContent])"
    )
    return [(kind, text) for kind, text in turns]


def replies_to(turns: List[Tuple[str, str]], question: str) -> List[str]:
    """The assistant's messages right after the patient's last ``question``."""
    start = max(i for i, turn in enumerate(turns) if turn == ("user", f"You: {question}"))
    return [text for _, text in takewhile(lambda turn: turn[0] == "bot", turns[start + 1 :])]


def assert_answered_in_order(page: Page, questions: List[Tuple[str, str]]) -> None:
    """The last messages are these questions, in order, each followed by its answer."""
    turns = transcript(page)
    users = [text for kind, text in turns if kind == "user"][-len(questions) :]
    assert users == [f"You: {question}" for question, _ in questions], turns
    for question, answer in questions:
        assert any(answer in text for text in replies_to(turns, question)), (question, turns)


@pytest.mark.parametrize("count", [2, 3], ids=["two", "three"])
def test_messages_sent_while_waiting_are_queued_and_all_answered_in_order(
    new_page: NewPage,
    web: WebServer,
    assistant: Stack,
    held_replies: Hold,
    axe_source: Path,
    screenshots: Path,
    count: int,
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    hold = held_replies(page, webhook(assistant))
    questions = QUESTIONS[:count]

    first = questions[0][0]
    send(page, first)
    hold.wait(1)
    expect(state_of(page, first)).to_have_text("Sending…")
    for question, _ in questions[1:]:
        send(page, question)
        expect(chat_input(page)).to_have_value("")  # taken, not left in the box
        expect(state_of(page, question)).to_have_text("Queued")
        expect(user_message(page, question)).to_have_class("sca-msg sca-user sca-queued")
    expect(page.get_by_role("button", name="Send")).to_have_attribute("aria-disabled", "false")
    assert hold.messages == [first], "one message at a time"
    assert [e["status"] for e in stored(page)["entries"][-count:]] == ["pending"] + ["queued"] * (count - 1)
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=str(screenshots / f"widget-1280x800-queued-{count}.png"))

    for n in range(count):
        hold.release()
        if n + 1 < count:
            hold.wait(n + 2)
            question = questions[n + 1][0]
            expect(state_of(page, question)).to_have_text("Sending…")
            # The answer to the previous one is above the message now being sent.
            expect(state_of(page, questions[n][0])).to_have_count(0)
            previous, answer = questions[n]
            assert any(answer in text for text in replies_to(transcript(page), previous))
            assert len(hold.messages) == n + 2
    expect(page.locator(".sca-typing")).to_be_hidden()
    expect(page.locator(".sca-state")).to_have_count(0)
    assert hold.messages == [q for q, _ in questions]
    assert_answered_in_order(page, questions)
    assert all(e["status"] == "sent" for e in stored(page)["entries"] if e["from"] == "user")
    expect(page.locator(".sca-error")).to_have_count(0)


def test_a_message_sent_during_the_greeting_is_not_dropped(
    new_page: NewPage, web: WebServer, assistant: Stack, held_replies: Hold
) -> None:
    page = goto(new_page(phone=True), web, assistant.rasa_url)
    hold = held_replies(page, webhook(assistant))
    launcher(page).click()
    hold.wait(1)
    expect(page.locator(".sca-typing")).to_be_visible()
    question, answer = QUESTIONS[0]
    send(page, question)
    expect(chat_input(page)).to_have_value("")
    expect(state_of(page, question)).to_have_text("Queued")
    assert hold.messages == ["/greet"]

    hold.release()  # the greeting comes, then the question goes
    hold.wait(2)
    expect(bot_messages(page).first).to_contain_text(GREETING)
    expect(state_of(page, question)).to_have_text("Sending…")
    hold.pass_through()
    expect(state_of(page, question)).to_have_count(0)
    expect(page.locator(".sca-typing")).to_be_hidden()
    assert hold.messages == ["/greet", question]
    turns = transcript(page)
    assert turns[0][0] == "bot" and GREETING in turns[0][1], turns
    assert_answered_in_order(page, [(question, answer)])


def test_quick_replies_go_through_the_same_queue(
    new_page: NewPage, web: WebServer, assistant: Stack, held_replies: Hold
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    send(page, QUESTIONS[0][0])
    expect(quick_replies(page)).to_have_count(5)  # three topics, then 👍 / 👎
    hold = held_replies(page, webhook(assistant))
    page.get_by_role("button", name="Does insurance cover it?").click()
    hold.wait(1)
    send(page, "Can I do it at home?")
    expect(state_of(page, "Can I do it at home?")).to_have_text("Queued")
    assert hold.messages == ["/ask_insurance"]
    hold.pass_through()
    expect(page.locator(".sca-state")).to_have_count(0)
    assert hold.messages == ["/ask_insurance", "Can I do it at home?"]
    assert_answered_in_order(page, QUESTIONS[1:3])


def test_failed_messages_are_marked_not_sent_and_retry_sends_them(
    new_page: NewPage,
    web: WebServer,
    assistant: Stack,
    held_replies: Hold,
    axe_source: Path,
    screenshots: Path,
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    hold = held_replies(page, webhook(assistant))
    (first, first_answer), (second, second_answer) = QUESTIONS[3:5]
    send(page, first)
    hold.wait(1)
    send(page, second)
    expect(state_of(page, second)).to_have_text("Queued")

    # The first can't reach the assistant: marked, explained, retry offered; the second goes on.
    hold.release("abort")
    expect(state_of(page, first)).to_have_text("Not sent")
    notice = user_message(page, first).locator("xpath=following-sibling::*[1]")
    expect(notice).to_have_class("sca-error")
    expect(notice).to_contain_text("can't be reached")
    expect(notice).to_contain_text("Your message is kept here")
    expect(notice.get_by_role("button", name="Retry")).to_be_visible()
    hold.wait(2)
    expect(state_of(page, second)).to_have_text("Sending…")

    # The second gets a server error: marked the same way.
    hold.release("500")
    expect(state_of(page, second)).to_have_text("Not sent")
    expect(page.locator(".sca-error")).to_have_count(2)
    expect(page.locator(".sca-error").last).to_contain_text("went wrong at the assistant's end")
    expect(page.locator(".sca-typing")).to_be_hidden()
    statuses = {e["text"]: e["status"] for e in stored(page)["entries"] if e["from"] == "user"}
    assert statuses[first] == statuses[second] == "failed"
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=str(screenshots / "widget-1280x800-not-sent.png"))

    # Retry both; the second retry comes while the first is pending, so it is queued.
    page.get_by_role("button", name="Retry").first.click()
    hold.wait(3)
    expect(state_of(page, first)).to_have_text("Sending…")
    page.get_by_role("button", name="Retry").click()
    expect(state_of(page, second)).to_have_text("Queued")
    hold.pass_through()
    expect(page.locator(".sca-state")).to_have_count(0)
    expect(page.locator(".sca-error")).to_have_count(0)
    assert hold.messages == [first, second, first, second]
    assert_answered_in_order(page, [(first, first_answer), (second, second_answer)])
    expect(user_message(page, first)).to_have_count(1)
    expect(user_message(page, second)).to_have_count(1)


def test_the_queue_goes_on_after_a_timeout(
    new_page: NewPage, web: WebServer, assistant: Stack, held_replies: Hold
) -> None:
    page = goto(new_page(), web, assistant.rasa_url, timeout=1500)
    open_chat(page)
    hold = held_replies(page, webhook(assistant))
    (first, _), (second, second_answer) = QUESTIONS[:2]
    send(page, first)
    hold.wait(1)
    send(page, second)
    expect(state_of(page, first)).to_have_text("Not sent")  # the held answer never came
    expect(page.locator(".sca-error")).to_contain_text("taking too long")
    hold.wait(2)
    hold.release("forget")
    hold.pass_through()
    expect(state_of(page, second)).to_have_count(0)
    assert hold.messages == [first, second]
    assert_answered_in_order(page, [(second, second_answer)])
    expect(page.locator(".sca-error")).to_have_count(1)


def test_a_full_queue_keeps_the_text_and_disables_send(
    new_page: NewPage,
    web: WebServer,
    assistant: Stack,
    held_replies: Hold,
    axe_source: Path,
    screenshots: Path,
) -> None:
    page = goto(new_page(phone=True), web, assistant.rasa_url)
    open_chat(page)
    hold = held_replies(page, webhook(assistant))
    send_button = page.get_by_role("button", name="Send")
    note = page.locator(".sca-note")
    for question, _ in QUESTIONS[:4]:  # one being answered, three queued: full
        expect(send_button).to_have_attribute("aria-disabled", "false")
        expect(note).to_be_hidden()
        send(page, question)
        expect(user_message(page, question)).to_have_count(1)
    expect(send_button).to_have_attribute("aria-disabled", "true")
    expect(send_button).to_have_css("background-color", "rgb(229, 231, 235)")  # greyed out
    expect(note).to_be_visible()
    expect(note).to_contain_text("still being sent")
    expect(note).to_have_attribute("role", "status")
    assert send_button.get_attribute("aria-describedby") == note.get_attribute("id")

    fifth = QUESTIONS[4][0]
    send(page, fifth)
    send_button.click(force=True)  # aria-disabled: Playwright would wait for it to be enabled
    expect(chat_input(page)).to_have_value(fifth)  # kept in the box, not sent, not lost
    expect(user_message(page, fifth)).to_have_count(0)
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=str(screenshots / "widget-360x640-queue-full.png"))
    assert hold.messages == [QUESTIONS[0][0]]

    hold.pass_through()
    expect(page.locator(".sca-state")).to_have_count(0)
    expect(send_button).to_have_attribute("aria-disabled", "false")
    expect(note).to_be_hidden()
    expect(chat_input(page)).to_have_value(fifth)
    chat_input(page).press("Enter")
    expect(chat_input(page)).to_have_value("")
    expect(page.locator(".sca-typing")).to_be_hidden()
    expect(page.locator(".sca-state")).to_have_count(0)
    assert hold.messages == [q for q, _ in QUESTIONS]
    assert_answered_in_order(page, QUESTIONS)


def test_messages_cut_off_by_a_reload_are_offered_for_retry(
    new_page: NewPage, web: WebServer, assistant: Stack, held_replies: Hold
) -> None:
    page = goto(new_page(), web, assistant.rasa_url)
    open_chat(page)
    hold = held_replies(page, webhook(assistant))
    (first, first_answer), (second, second_answer) = QUESTIONS[:2]
    send(page, first)
    hold.wait(1)
    send(page, second)
    expect(state_of(page, second)).to_have_text("Queued")
    page.reload()
    hold.release("forget")
    hold.pass_through()
    launcher(page).click()
    for question in (first, second):
        expect(state_of(page, question)).to_have_text("Not sent")
    expect(page.locator(".sca-error")).to_have_count(2)
    expect(page.locator(".sca-error").first).to_contain_text("before this message was answered")
    page.get_by_role("button", name="Retry").first.click()
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".sca-state")).to_have_count(0)
    expect(page.locator(".sca-error")).to_have_count(0)
    assert hold.messages[-2:] == [first, second]
    assert_answered_in_order(page, [(first, first_answer), (second, second_answer)])
