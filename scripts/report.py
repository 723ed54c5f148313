"""Prints the staff report: conversations, topics, escalations, unanswered questions, feedback.

    .venv/bin/python scripts/report.py [--since DATE] [--until DATE] [--json]   # `make report`

DATE is a date (2026-12-01, midnight UTC) or an ISO time (2026-12-01T09:30, +01:00 or Z;
without a zone, UTC). The period is [since, until): until defaults to now, since to 30
days before until. The store is the one the Rasa server uses: TRACKER_STORE_URL (default
the SQLite file var/tracker.db; PostgreSQL when it names one), read through
core/settings.py. Unanswered questions are grouped by sentence similarity (the
assistant's own embedding model; --no-similarity groups identical wording only) and
shown with personal data masked. See docs/staff.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _moment(value: str) -> Any:
    from core.report import parse_moment

    try:
        return parse_moment(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {value!r}") from error


def _encoder() -> Optional[Any]:
    """The sentence encoder's ``encode``, or None (grouping by wording) if it cannot load."""
    try:
        from core.embeddings import get_encoder

        encoder = get_encoder()
    except Exception as error:  # a missing or unverified model: group by wording
        print(f"Grouping by wording only: the embedding model did not load ({error})", file=sys.stderr)
        return None
    return lambda texts: encoder.encode(list(texts), use_cache=False)


def main(argv: Optional[List[str]] = None) -> int:
    from core.report import DEFAULT_UNANSWERED_LIMIT, Period, ReportError, engine_for, format_text, report
    from core.settings import environment

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--since", type=_moment, help="start of the period (included)")
    parser.add_argument("--until", type=_moment, help="end of the period (excluded); default now")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--top", type=int, default=DEFAULT_UNANSWERED_LIMIT, help="unanswered questions listed"
    )
    parser.add_argument(
        "--no-similarity", action="store_true", help="group unanswered questions by wording only"
    )
    parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: TRACKER_STORE_URL)")
    args = parser.parse_args(argv)
    try:
        period = Period.of(args.since, args.until)
    except ValueError as error:
        parser.error(str(error))
    url = args.url or environment()["TRACKER_STORE_URL"]
    engine = engine_for(url)
    if engine is None:
        print("No conversations stored yet (the tracker store file does not exist).", file=sys.stderr)
        data = report_of_nothing(period)
    else:
        encode = None if args.no_similarity else _encoder()
        try:
            data = report(engine, period, encode=encode, unanswered_limit=max(args.top, 0))
        except ReportError as error:
            print(str(error), file=sys.stderr)
            return 1
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_text(data))
    return 0


def report_of_nothing(period: Any) -> Any:
    from core.report import empty_report

    return empty_report(period)


if __name__ == "__main__":
    sys.exit(main())
