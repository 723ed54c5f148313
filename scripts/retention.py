"""Deletes conversations older than a number of days from the tracker store.

    .venv/bin/python scripts/retention.py [--days N]     # `make retention`
    .venv/bin/python scripts/retention.py --unnamespaced # conversations from before
                                                         # per-channel sender ids

The store is the one the Rasa server uses: TRACKER_STORE_URL (default the SQLite file
var/tracker.db, core/settings.py). N defaults to RETENTION_DAYS, else 30.
A conversation goes when its latest message is older than N days. Run it daily (cron).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: Optional[List[str]] = None) -> int:
    from core.settings import environment, get_server_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=get_server_settings().retention_days)
    parser.add_argument("--url", default=environment()["TRACKER_STORE_URL"], help="SQLAlchemy URL")
    parser.add_argument(
        "--unnamespaced",
        action="store_true",
        help="delete the conversations stored under plain sender ids (before the guard "
        "namespaced them per channel), instead of the old ones",
    )
    args = parser.parse_args(argv)
    if args.days <= 0:
        parser.error("--days must be positive")

    from rasa.core.tracker_store import SQLTrackerStore

    from addons.privacy import purge_older_than, purge_unnamespaced

    store = SQLTrackerStore(dialect=args.url.split(":", 1)[0].split("+")[0], host=args.url)
    if args.unnamespaced:
        print(f"Deleted {purge_unnamespaced(store)} conversation(s) stored under plain sender ids.")
        return 0
    deleted = purge_older_than(store, args.days)
    print(f"Deleted {deleted} conversation(s) older than {args.days:g} days.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
