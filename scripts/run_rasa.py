"""Starts the Rasa server, with the API token and the bind address from the environment.

    RASA_API_TOKEN=... RASA_HOST=127.0.0.1 .venv/bin/python scripts/run_rasa.py \\
        --model models/current.tar.gz --port 5005 \\
        --endpoints endpoints.yml --credentials credentials.yml

It takes ``rasa run``'s arguments (any of them, or none) except the ones the settings
decide, and runs Rasa in this process (``rasa.__main__.main``, what the ``rasa`` command
runs), so no secret is ever on a command line, where ``ps`` and ``/proc/<pid>/cmdline``
show it to every user of the machine:

* ``--interface`` comes from ``RASA_HOST`` (default 127.0.0.1: loopback, behind a
  reverse proxy; ``0.0.0.0`` listens on every interface);
* ``--enable-api --auth-token`` come from ``RASA_API_TOKEN``: the HTTP API is on only
  when a token is set, and never without one.

Those options, and the other secret ones (``--jwt-secret``, ``--ssl-password``), are
refused on the command line. Every variable of ``core.settings.DEFAULTS`` that is unset
gets its default first, as ``scripts/serve.py`` does for the processes it starts, so
``endpoints.yml`` and ``credentials.yml`` resolve from a minimal environment file too.
Run it from the repository root (relative paths, such as ``endpoints.yml``, are read
from the working directory). The project's patches of Rasa (``addons/patches.py``)
load as with the ``rasa`` command: when Rasa imports the plug-ins that
``credentials.yml``, ``endpoints.yml`` and the model name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import DEFAULT_TRACKER_DB, environment  # noqa: E402

#: ``rasa run`` options that the environment decides, with the variable that does.
FROM_SETTINGS: Dict[str, str] = {
    "--interface": "RASA_HOST",
    "-i": "RASA_HOST",
    "--auth-token": "RASA_API_TOKEN",
    "-t": "RASA_API_TOKEN",
    "--enable-api": "RASA_API_TOKEN",
}
#: Secret ``rasa run`` options this project does not use; never on a command line.
SECRET_OPTIONS = ("--jwt-secret", "--ssl-password")


def refused_option(args: Sequence[str]) -> Optional[str]:
    """Why ``args`` cannot be used, or None.

    Long options are matched by prefix too, since ``rasa run``'s parser accepts
    abbreviations (``--auth`` is ``--auth-token``); short ones with an attached value
    (``-tSECRET``) too.
    """
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            name = arg.split("=", 1)[0]
            for option, variable in FROM_SETTINGS.items():
                if option.startswith("--") and option.startswith(name):
                    return f"{option} is not taken on the command line: set {variable} in the environment"
            for option in SECRET_OPTIONS:
                if option.startswith(name):
                    return f"{option} is not supported: secrets never go on a command line"
        elif arg.startswith("-") and not arg.startswith("--"):
            for option, variable in FROM_SETTINGS.items():
                if not option.startswith("--") and arg.startswith(option):
                    return f"{option} is not taken on the command line: set {variable} in the environment"
    return None


def rasa_arguments(args: Sequence[str], env: Mapping[str, str]) -> List[str]:
    """The arguments of ``rasa`` (``run`` and its options) for ``args`` and ``env``.

    The settings' options come first, so that a model path given as the last
    positional argument (``rasa run models/x.tar.gz``) stays last, as Rasa expects.
    """
    arguments = ["run", "--interface", env["RASA_HOST"]]
    token = env.get("RASA_API_TOKEN", "")
    if token:
        arguments += ["--enable-api", "--auth-token", token]
    return arguments + list(args)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    problem = refused_option(args)
    if problem:
        print(f"run_rasa.py: {problem}", file=sys.stderr)
        return 2
    env = environment()
    # endpoints.yml and credentials.yml name these as ${VARIABLES}; Rasa fails on unset ones.
    os.environ.update(env)
    if env["TRACKER_STORE_URL"] == f"sqlite:///{DEFAULT_TRACKER_DB}":
        try:  # the default SQLite store's directory (var/), as `make run` creates it
            DEFAULT_TRACKER_DB.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # a read-only checkout: Rasa reports the store it cannot open

    import rasa.__main__

    # Only this process's own copy of its arguments changes: the kernel's (what `ps`
    # and /proc/<pid>/cmdline show) stays as it was started, without the token.
    sys.argv = [sys.argv[0], *rasa_arguments(args, env)]
    rasa.__main__.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
