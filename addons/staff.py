"""The staff page: the report of ``core/report.py`` as HTML with charts, behind a token.

Served by the Rasa server as a channel (``credentials.yml``: ``addons.staff.StaffInput``)
whose blueprint takes no patient messages:

* ``GET /webhooks/staff/``: the report for a period (``?since=&until=``, dates or ISO
  times, default the last 30 days) with charts as inline SVG (topics, topics over time,
  escalations over time); no script, no external request (``Content-Security-Policy:
  default-src 'none'``, the stylesheet from the same server);
* ``GET /webhooks/staff/report.json``: the same report as JSON;
* ``POST /webhooks/staff/login`` (form field ``token``) and ``POST /webhooks/staff/logout``.

Access (``STAFF_TOKEN``, core/settings.py):

* empty, or shorter than :data:`MIN_TOKEN_CHARS`: every route answers 404 (the page does
  not exist);
* otherwise a request is let in with a session cookie or ``Authorization: Bearer
  <token>``. The login form posts the token (never in a URL); a right one (compared in
  constant time) sets ``staff_session``: an expiry time and its HMAC keyed with the
  token, ``HttpOnly``, ``SameSite=Strict``, ``Path=/webhooks/staff``, ``Secure`` over
  HTTPS, valid :data:`SESSION_SECONDS`. No server state, so several Rasa instances with
  the same token accept each other's sessions; changing the token ends every session.
  Without a valid session the page answers 401 with the login form; after
  :data:`MAX_FAILURES` wrong tokens from one address (behind a reverse proxy on this
  machine: its ``X-Real-IP``) in :data:`FAILURE_WINDOW` seconds, 429.

Nothing here logs a token or a message text. The report is computed for every request
from what the tracker store holds (erased and expired conversations are gone) and is
not kept; pages are sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Sequence, Text, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from addons.privacy import unwrap
from core.report import Period, ReportError, parse_moment, report
from core.settings import get_server_settings

logger = logging.getLogger(__name__)

PREFIX = "/webhooks/staff"
COOKIE = "staff_session"
SESSION_SECONDS = 8 * 3600
MIN_TOKEN_CHARS = 16
MAX_FAILURES = 10
FAILURE_WINDOW = 900.0
LOOPBACK = frozenset({"127.0.0.1", "::1"})
STYLESHEET = Path(__file__).resolve().parent.parent / "web" / "staff" / "staff.css"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: Colours of the topics in the charts (repeated when there are more topics).
PALETTE = (
    "#0a5c7a",
    "#d97706",
    "#059669",
    "#7c3aed",
    "#db2777",
    "#2563eb",
    "#65a30d",
    "#b91c1c",
    "#0891b2",
    "#a16207",
    "#4f46e5",
    "#be185d",
    "#374151",
)
LEVEL_COLOURS = {"emergency": "#b91c1c", "urgent": "#d97706"}


# ------------------------------------------------------------------------ access
def staff_token() -> Optional[str]:
    """The configured staff token, or None when the page is disabled (unset or too short)."""
    token = get_server_settings().staff_token
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        logger.error("STAFF_TOKEN is shorter than %d characters: the staff page is off", MIN_TOKEN_CHARS)
        return None
    return token


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison (of digests, so the length leaks nothing either)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "replace")).digest(), hashlib.sha256(token.encode()).digest()
    )


def _signature(token: str, expires: int) -> str:
    key = hashlib.sha256(b"staff-session:" + token.encode()).digest()
    return hmac.new(key, str(expires).encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: Optional[float] = None) -> str:
    """A session cookie value: ``<expiry>.<HMAC of the expiry keyed with the token>``."""
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    return f"{expires}.{_signature(token, expires)}"


def session_valid(value: Optional[str], token: str, now: Optional[float] = None) -> bool:
    """Whether a cookie value is a session made with ``token`` that has not expired."""
    if not value or "." not in value:
        return False
    expires_text, _, signature = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, expires).encode())


class FailedLogins:
    """Wrong tokens per client address in a sliding window (in memory, bounded)."""

    def __init__(
        self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW, max_clients: int = 10_000
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._seen: "OrderedDict[str, Deque[float]]" = OrderedDict()

    def _recent(self, client: str, now: float) -> Deque[float]:
        times = self._seen.pop(client, None) or deque()
        while times and now - times[0] > self.window:
            times.popleft()
        self._seen[client] = times
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)
        return times

    def blocked(self, client: str, now: Optional[float] = None) -> bool:
        return len(self._recent(client, time.monotonic() if now is None else now)) >= self.limit

    def failed(self, client: str, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(client, now).append(now)


# ------------------------------------------------------------------------ charts
def _colour_of(topics: Sequence[str]) -> Dict[str, str]:
    return {topic: PALETTE[index % len(PALETTE)] for index, topic in enumerate(topics)}


def _label(start: str, bucket: str) -> str:
    moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return moment.strftime("%H:00") if bucket == "hour" else moment.strftime("%d %b")


def bar_chart(counts: Dict[str, int], colours: Dict[str, str], chart_id: str, title: str) -> str:
    """Horizontal bars, one per key, as inline SVG."""
    if not counts:
        return '<p class="empty">None in this period.</p>'
    width, label_width, row = 640, 170, 26
    top = max(counts.values()) or 1
    height = row * len(counts) + 8
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}">'
    ]
    for index, (name, count) in enumerate(counts.items()):
        y = 4 + index * row
        bar = max(2.0, (width - label_width - 50) * count / top)
        name_html = html.escape(name)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 17}" text-anchor="end" class="label">{name_html}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{bar:.1f}" height="{row - 8}" '
            f'fill="{colours.get(name, PALETTE[0])}" data-key="{name_html}" data-count="{count}">'
            f"<title>{name_html}: {count}</title></rect>"
            f'<text x="{label_width + bar + 6:.1f}" y="{y + 17}" class="value">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(
    points: List[Dict[str, Any]],
    series: Callable[[Dict[str, Any]], Dict[str, int]],
    colours: Dict[str, str],
    bucket: str,
    chart_id: str,
    title: str,
) -> str:
    """Stacked vertical bars, one per time bucket, as inline SVG."""
    totals = [sum(series(point).values()) for point in points]
    if not any(totals):
        return '<p class="empty">None in this period.</p>'
    width, height, left, bottom, top_pad = 720, 220, 36, 34, 10
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = max(totals)
    slot = plot_w / max(len(points), 1)
    bar_w = max(1.0, min(40.0, slot * 0.7))
    label_every = max(1, -(-len(points) // 8))
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" class="value">{top}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" class="value">0</text>',
    ]
    for index, point in enumerate(points):
        x = left + slot * index + (slot - bar_w) / 2
        y = float(top_pad + plot_h)
        for name, count in series(point).items():
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            name_html = html.escape(name)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colours.get(name, PALETTE[0])}" data-key="{name_html}" data-count="{count}" '
                f'data-start="{html.escape(point["start"])}">'
                f"<title>{html.escape(_label(point['start'], bucket))} {name_html}: {count}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 12}" text-anchor="middle" class="tick">'
                f"{html.escape(_label(point['start'], bucket))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(colours: Dict[str, str]) -> str:
    items = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="{colour}"/>'
        f"</svg> {html.escape(name)}</li>"
        for name, colour in colours.items()
    )
    return f'<ul class="legend">{items}</ul>'


def _rows(rows: Sequence[Tuple[Any, ...]], figure: str) -> str:
    return "".join(
        f'<tr data-figure="{figure}">'
        + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        + "</tr>"
        for row in rows
    )


def _table(headers: Sequence[str], rows: Sequence[Tuple[Any, ...]], figure: str) -> str:
    if not rows:
        return '<p class="empty">None in this period.</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return (
        f'<table class="{figure}"><thead><tr>{head}</tr></thead><tbody>{_rows(rows, figure)}</tbody></table>'
    )


def _date_value(iso: str, end: bool = False) -> str:
    """The date input's value for a period bound; an ``until`` inside a day shows the
    next day, so that submitting the form again keeps that day in."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if end and moment.time() != moment.time().min:
        moment += timedelta(days=1)
    return html.escape(moment.date().isoformat())


def render_page(data: Dict[str, Any]) -> str:
    """The staff page for a report (every value escaped: unanswered texts are patients')."""
    period, escalations, timeline = data["period"], data["escalations"], data["timeline"]
    colours = _colour_of(list(data["topics"]))
    figures = [
        ("conversations", "Conversations"),
        ("senders", "Patients"),
        ("messages", "Messages"),
        ("fallback", "Asked to rephrase"),
        ("not_covered", "Not covered"),
    ]
    summary = "".join(
        f'<div><dt>{label}</dt><dd data-figure="{key}">{int(data.get(key, 0))}</dd></div>'
        for key, label in figures
    )
    summary += "".join(
        f"<div><dt>{level.capitalize()} escalations</dt>"
        f'<dd data-figure="escalations-{level}">{int(escalations[level])}</dd></div>'
        for level in ("emergency", "urgent")
    )
    channels = [(name, v["conversations"], v["messages"]) for name, v in data["by_channel"].items()]
    reasons = list(escalations["by_reason"].items())
    unanswered = [(item["count"], item["text"]) for item in data["unanswered"]]
    feedback = [(topic, v["helpful"], v["not_helpful"]) for topic, v in data["feedback"].items()]
    bucket = timeline["bucket"]
    topics_over_time = stacked_chart(
        timeline["points"],
        lambda point: point["topics"],
        colours,
        bucket,
        "chart-topics-time",
        "Answers per topic over time",
    )
    escalations_over_time = stacked_chart(
        timeline["points"],
        lambda point: {"emergency": point["emergency"], "urgent": point["urgent"]},
        LEVEL_COLOURS,
        bucket,
        "chart-escalations",
        "Escalations over time",
    )
    since_value, until_value = _date_value(period["since"]), _date_value(period["until"], end=True)
    grouping = "similar wording" if data.get("grouping") == "similarity" else "identical wording"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Assistant report: staff</title>
<link rel="stylesheet" href="{PREFIX}/staff.css">
</head>
<body>
<header>
<h1>What patients asked the assistant</h1>
<form method="post" action="{PREFIX}/logout" class="logout"><button type="submit">Log out</button></form>
</header>
<main>
<form method="get" action="{PREFIX}/" class="period">
<label>From (included) <input type="date" name="since" value="{since_value}"></label>
<label>Until (not included) <input type="date" name="until" value="{until_value}"></label>
<button type="submit">Show</button>
</form>
<p class="period-text">Period: <span data-figure="since">{html.escape(period["since"])}</span> to
<span data-figure="until">{html.escape(period["until"])}</span> (UTC; until not included).</p>
<section><h2>Summary</h2><dl class="summary">{summary}</dl>
<h3>By channel</h3>{_table(["channel", "conversations", "messages"], channels, "channel")}</section>
<section><h2>Answers per topic</h2>{bar_chart(data["topics"], colours, "chart-topics", "Answers per topic")}
<h3>Over time (per {bucket})</h3>{topics_over_time}{_legend(colours) if data["topics"] else ""}</section>
<section><h2>Escalations</h2>{escalations_over_time}{_legend(LEVEL_COLOURS)}
<h3>By reason</h3>{_table(["reason", "escalations"], reasons, "reason")}</section>
<section><h2>Unanswered questions</h2>
<p>Messages the assistant could not answer (asked to rephrase, or "not covered"), grouped by
{grouping}, most frequent first. Personal data is masked where detectable. Add answers for
these to the clinic's content.</p>
{_table(["times", "question"], unanswered, "unanswered")}</section>
<section><h2>Was this helpful?</h2>
{_table(["topic", "helpful", "not helpful"], feedback, "feedback")}</section>
</main>
</body>
</html>
"""


def render_login(error: str = "") -> str:
    """The login form (the token is posted, never put in a URL)."""
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Staff login</title>
<link rel="stylesheet" href="{PREFIX}/staff.css">
</head>
<body>
<main class="login">
<h1>Staff login</h1>
{message}
<form method="post" action="{PREFIX}/login">
<label for="token">Staff token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>
"""


# ------------------------------------------------------------------------ channel
def _html(body: str, status: int = 200) -> HTTPResponse:
    return response.html(body, status=status, headers=dict(SECURITY_HEADERS))


def _not_found() -> HTTPResponse:
    return response.json({"error": "Not found."}, status=404, headers={"Cache-Control": "no-store"})


def _encoder() -> Optional[Callable[[Sequence[str]], Any]]:
    """The Rasa server's sentence encoder (already loaded by the safety net), or None."""
    try:
        from core.embeddings import get_encoder

        encoder = get_encoder()
    except Exception as error:  # no model: group by wording
        logger.warning("Staff report groups by wording only: %s", type(error).__name__)
        return None
    return lambda texts: encoder.encode(list(texts), use_cache=False)


class StaffInput(InputChannel):
    """The staff page's routes (see the module docstring); takes no patient messages."""

    def __init__(self) -> None:
        self.failures = FailedLogins()

    @classmethod
    def name(cls) -> Text:
        return "staff"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "StaffInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = Blueprint("clinic_staff", __name__)

        async def page(request: Request) -> HTTPResponse:
            return await self._page(request)

        async def report_json(request: Request) -> HTTPResponse:
            return await self._report_json(request)

        async def login(request: Request) -> HTTPResponse:
            return self._login(request)

        async def logout(request: Request) -> HTTPResponse:
            return self._logout(request)

        async def stylesheet(request: Request) -> HTTPResponse:
            if staff_token() is None:
                return _not_found()
            return response.text(
                STYLESHEET.read_text(encoding="utf-8"),
                content_type="text/css; charset=utf-8",
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

        blueprint.route("/", methods=["GET"], strict_slashes=False)(page)
        blueprint.route("/report.json", methods=["GET"])(report_json)
        blueprint.route("/login", methods=["POST"])(login)
        blueprint.route("/logout", methods=["POST"])(logout)
        blueprint.route("/staff.css", methods=["GET"])(stylesheet)
        return blueprint

    # -- access ----------------------------------------------------------------------

    @staticmethod
    def _authorised(request: Request, token: str) -> bool:
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return token_matches(header[7:].strip(), token)
        return session_valid(request.cookies.get(COOKIE), token)

    @staticmethod
    def _client(request: Request) -> str:
        """The client's address: the peer's, or for a reverse proxy on this machine (a
        loopback peer, e.g. deploy/nginx) the ``X-Real-IP`` it sets, so one client's
        wrong tokens don't lock everyone out."""
        peer = str(getattr(request, "ip", "") or "unknown")
        forwarded = request.headers.get("x-real-ip", "").strip()
        if forwarded and peer in LOOPBACK:
            return forwarded[:64]
        return peer

    def _login(self, request: Request) -> HTTPResponse:
        token = staff_token()
        if token is None:
            return _not_found()
        client = self._client(request)
        if self.failures.blocked(client):
            logger.warning("Staff login refused: too many wrong tokens from one address")
            return _html(render_login("Too many attempts. Try again in a few minutes."), status=429)
        given = request.form.get("token") if request.form else None
        if not isinstance(given, str) or not token_matches(given, token):
            self.failures.failed(client)
            logger.warning("Staff login failed: wrong token")
            return _html(render_login("That token is not right."), status=401)
        logger.info("Staff login")
        answer = response.redirect(f"{PREFIX}/", status=303, headers=dict(SECURITY_HEADERS))
        secure = request.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
        answer.cookies[COOKIE] = new_session(token)
        cookie = answer.cookies[COOKIE]
        cookie["httponly"] = True
        cookie["samesite"] = "Strict"
        cookie["path"] = PREFIX
        cookie["max-age"] = SESSION_SECONDS
        if secure:
            cookie["secure"] = True
        return answer

    def _logout(self, request: Request) -> HTTPResponse:
        if staff_token() is None:
            return _not_found()
        answer = response.redirect(f"{PREFIX}/", status=303, headers=dict(SECURITY_HEADERS))
        answer.cookies[COOKIE] = ""
        answer.cookies[COOKIE]["path"] = PREFIX
        answer.cookies[COOKIE]["max-age"] = 0
        answer.cookies[COOKIE]["httponly"] = True
        answer.cookies[COOKIE]["samesite"] = "Strict"
        return answer

    # -- the report ------------------------------------------------------------------

    @staticmethod
    def _period(request: Request) -> Period:
        """The period of ``?since=&until=`` (ValueError when malformed)."""
        since, until = request.args.get("since"), request.args.get("until")
        return Period.of(parse_moment(since) if since else None, parse_moment(until) if until else None)

    @staticmethod
    async def _compute(request: Request, period: Period) -> Dict[str, Any]:
        agent = getattr(request.app.ctx, "agent", None)
        store = unwrap(getattr(agent, "tracker_store", None))
        if not isinstance(store, SQLTrackerStore):
            raise ReportError("The report needs an SQL tracker store")
        table = store.SQLEvent.__tablename__
        loop = asyncio.get_running_loop()
        encode = await loop.run_in_executor(None, _encoder)
        return await loop.run_in_executor(None, lambda: report(store.engine, period, table, encode))

    async def _page(self, request: Request) -> HTTPResponse:
        token = staff_token()
        if token is None:
            return _not_found()
        if not self._authorised(request, token):
            return _html(render_login(), status=401)
        try:
            period = self._period(request)
        except ValueError:
            return _html(render_login_free_error("The dates are not valid."), status=400)
        try:
            data = await self._compute(request, period)
        except ReportError as error:
            logger.error("Staff report failed: %s", error)
            return _html(render_login_free_error("The report could not be read. Try again later."), 503)
        return _html(render_page(data))

    async def _report_json(self, request: Request) -> HTTPResponse:
        token = staff_token()
        if token is None:
            return _not_found()
        if not self._authorised(request, token):
            return response.json({"error": "Staff token needed."}, status=401, headers=dict(SECURITY_HEADERS))
        try:
            period = self._period(request)
        except ValueError:
            return response.json(
                {"error": "since/until must be dates or ISO times, since before until."}, 400
            )
        try:
            data = await self._compute(request, period)
        except ReportError as error:
            logger.error("Staff report failed: %s", error)
            return response.json({"error": "The report could not be read."}, status=503)
        return response.json(data, headers=dict(SECURITY_HEADERS))


def render_login_free_error(message: str) -> str:
    """A short error page for a logged-in member of staff."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Staff report</title>'
        f'<link rel="stylesheet" href="{PREFIX}/staff.css"></head><body><main>'
        f'<p class="error" role="alert">{html.escape(message)}</p>'
        f'<p><a href="{PREFIX}/">Back to the report</a></p></main></body></html>'
    )
