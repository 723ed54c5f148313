"""The production deployment (deploy/, docs/deploy.md), run on this machine.

* The systemd units pass ``systemd-analyze verify`` (it runs without systemd as PID 1;
  skipped, with the reason, where the tool is missing) and keep the settings the
  deployment relies on: restart on failure, the environment file, a non-root user,
  hardening, no token on a command line. ``deploy/assistant.env.example`` names every
  setting of ``core/settings.py``.
* The deployment itself: Debian's nginx on loopback (its own config rendered from
  ``deploy/nginx/sweat-clinic.conf``, own pid and log files, free ports, not the system
  service) with a certificate from a CA made here, in front of two Rasa instances that
  share PostgreSQL and the Redis lock store, and one action server. Each process runs
  the ``ExecStart=`` of its unit, with the environment systemd would give it (the
  unit's ``Environment=``, then the example env file with this test's ports and
  database, then ``UnsetEnvironment=``), in this checkout instead of /opt/sweat-clinic.
  Over HTTPS, trusting only the test CA: the HTTP redirect and Let's Encrypt's
  challenge, FAQ answers, escalations, Telegram proxied, the retention unit, the
  security and caching headers (the staff page keeping its own), CORS for the clinic's
  website, Rasa and the action server on loopback only, Rasa's API not proxied and its
  token on no command line, the edge rate limit, the widget page chatting through nginx
  in Chromium, and a conversation that continues through the other Rasa instance after
  one is killed (same sender, earlier turns still in the tracker).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database ``test``) and
Redis on 127.0.0.1:6379 (skipped with the reason otherwise), nginx and openssl (``make
deploy-setup``) and Chromium (``make widget-setup``). Its rows (sender ids
``rest:deploy-<run>-*`` and the widget's) are deleted at the end.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

import pytest

from actions.knowledge import get_knowledge
from core.settings import DEFAULTS
from tests.browser.conftest import CHROMIUM_ARGS  # Debian's Chromium, launched as the widget tests do
from tests.faults import POSTGRES, REDIS, Answer, ensure_service, free_port, listening_addresses

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SITE = DEPLOY / "nginx" / "sweat-clinic.conf"
ENV_EXAMPLE = DEPLOY / "assistant.env.example"
#: Where the units expect the checkout, its state directory and the environment file.
INSTALL_DIR = "/opt/sweat-clinic"
STATE_DIR = "/var/lib/sweat-clinic"
ENV_FILE = "/etc/sweat-clinic/assistant.env"
HOSTNAME = "assistant.sweatclinic.example"
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
POSTGRES_URL = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test"
RUN = uuid.uuid4().hex[:8]
PREFIX = f"deploy-{RUN}-"
#: A clean environment, as systemd starts a service with (plus HOME from the unit).
SYSTEMD_BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
GREETING = "automated assistant"
#: The clinic's own website, which embeds the widget (an allowed CORS origin).
CLINIC_SITE = "https://sweatclinic.example"


# ----------------------------------------------------------------- units and env file
@dataclass
class Unit:
    """A systemd unit file: its settings by section, in order (continuation lines joined)."""

    name: str
    text: str
    sections: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, text: str) -> "Unit":
        unit = cls(name, text)
        section = ""
        for line in text.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                unit.sections.setdefault(section, [])
                continue
            key, _, value = line.partition("=")
            unit.sections[section].append((key.strip(), value.strip()))
        return unit

    def values(self, section: str, key: str) -> List[str]:
        return [value for k, value in self.sections.get(section, []) if k == key]

    def value(self, section: str, key: str) -> str:
        found = self.values(section, key)
        assert found, f"{self.name}: no {key}= in [{section}]"
        return found[-1]


def read_units(install_dir: str = INSTALL_DIR, state_dir: str = STATE_DIR) -> Dict[str, Unit]:
    """deploy/systemd/*, with the checkout and state directory moved if asked."""
    units = {}
    for path in sorted(UNITS.iterdir()):
        text = (
            path.read_text(encoding="utf-8").replace(INSTALL_DIR, install_dir).replace(STATE_DIR, state_dir)
        )
        units[path.name] = Unit.parse(path.name, text)
    return units


def read_env_file(path: Path) -> Dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (quotes removed)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"not KEY=value: {line!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def service_environment(unit: Unit, instance: str, env_file: Dict[str, str], home: str) -> Dict[str, str]:
    """What systemd gives the service: Environment=, overridden by EnvironmentFile=, then
    UnsetEnvironment= (systemd.exec(5))."""
    env = dict(SYSTEMD_BASE_ENV, HOME=home)
    for assignment in unit.values("Service", "Environment"):
        key, _, value = assignment.replace("%i", instance).partition("=")
        env[key] = value
    env.update(env_file)
    for name in " ".join(unit.values("Service", "UnsetEnvironment")).split():
        env.pop(name, None)
    return env


def service_command(unit: Unit, instance: str, env: Dict[str, str]) -> List[str]:
    """ExecStart= as systemd runs it (systemd.service(5), "Command lines"): %i is the
    instance; ${NAME} is a variable's value within a word; a word that is just $NAME
    becomes one word per whitespace-separated part of the value (none when empty)."""
    command: List[str] = []
    for word in shlex.split(unit.value("Service", "ExecStart").replace("%i", instance)):
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:
            command += env[whole.group(1)].split()
            continue
        assert not re.search(r"\$(?!\{)", word), f"not emulated: {word!r}"
        command.append(re.sub(r"\$\{(\w+)\}", lambda match: env[match.group(1)], word))
    return command


# --------------------------------------------------------------------- the processes
@dataclass
class Service:
    """One unit's ExecStart, run as a child process in its own process group."""

    name: str
    argv: List[str]
    env: Dict[str, str]
    cwd: str
    log_path: Path
    process: Optional["subprocess.Popen[bytes]"] = None
    _log: Optional[IO[bytes]] = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.process is not None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        return f"--- {self.name}\n{self.log_path.read_text(errors='replace')[-3000:]}"


def wait_until(check: Any, timeout: float, what: str, services: List[Service]) -> None:
    """Polls ``check()`` until it is true; fails with the services' logs otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            if service.process is not None and service.process.poll() is not None:
                pytest.fail(f"{service.name} exited with {service.process.returncode}\n{service.log_tail()}")
        try:
            if check():
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} not ready within {timeout:.0f} s\n" + "\n".join(s.log_tail() for s in services))


def http_status(url_host: str, port: int, path: str) -> int:
    connection = http.client.HTTPConnection(url_host, port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def replace(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced; fails when the shipped file no longer has it."""
    assert old in text, f"{SITE.name} no longer contains {old!r}: update the test's rendering"
    return text.replace(old, new)


def openssl(*args: str, cwd: Path) -> bytes:
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True).stdout


def make_certificates(directory: Path) -> None:
    """A test CA (ca.pem) and a certificate for localhost and 127.0.0.1 signed by it."""
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Sweat Clinic test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=directory,
    )
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
        cwd=directory,
    )


def spki_hash(certificate: Path) -> str:
    """Base64 SHA-256 of the certificate's public key (what Chromium can be told to trust)."""
    der = subprocess.run(
        [
            "bash",
            "-c",
            f"openssl x509 -in {shlex.quote(str(certificate))} -pubkey -noout | "
            "openssl pkey -pubin -outform der",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def render_nginx(workdir: Path, https_port: int, http_port: int, rasa_ports: Tuple[int, int]) -> Path:
    """nginx.conf for this test (own pid, logs, temp dirs) including the rendered site:
    the shipped file with the test's ports, certificate, checkout and host name."""
    site = SITE.read_text(encoding="utf-8")
    site = replace(site, f"/etc/letsencrypt/live/{HOSTNAME}/fullchain.pem", str(workdir / "server.pem"))
    site = replace(site, f"/etc/letsencrypt/live/{HOSTNAME}/privkey.pem", str(workdir / "server.key"))
    site = replace(site, "root /var/www/html;", f"root {workdir / 'acme'};")
    site = replace(site, f"root {INSTALL_DIR}/web;", f"root {ROOT / 'web'};")
    site = replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replace(site, "listen [::]:443 ssl http2;", "")
    site = replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace(site, "listen [::]:80;", "")
    site = replace(site, "server 127.0.0.1:5005 ", f"server 127.0.0.1:{rasa_ports[0]} ")
    site = replace(site, "server 127.0.0.1:5006 ", f"server 127.0.0.1:{rasa_ports[1]} ")
    site = replace(
        site, f'data-rasa-url="https://{HOSTNAME}"', f'data-rasa-url="https://localhost:{https_port}"'
    )
    site = replace(site, HOSTNAME, "localhost")
    (workdir / "sweat-clinic.conf").write_text(site)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "temp" / temp).mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx.conf"
    # One worker: the upstream's round robin then alternates strictly between instances.
    # Started by root, the worker would switch to "nobody", who cannot enter pytest's
    # private temporary directory: it stays root (Debian's nginx.conf says www-data).
    user = "user root root;" if os.geteuid() == 0 else ""
    config.write_text(
        f"""{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/temp/client_body;
    proxy_temp_path {workdir}/temp/proxy;
    fastcgi_temp_path {workdir}/temp/fastcgi;
    uwsgi_temp_path {workdir}/temp/uwsgi;
    scgi_temp_path {workdir}/temp/scgi;
    include {workdir}/sweat-clinic.conf;
}}
"""
    )
    return config


# ------------------------------------------------------------------------ the deployment
@dataclass
class Deployment:
    """What the fixture started, and how to talk to it over HTTPS."""

    workdir: Path
    https_port: int
    http_port: int
    token: str
    staff_token: str
    actions: Service
    rasa: List[Service]
    nginx: Service
    context: ssl.SSLContext
    senders: List[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.https_port}"

    def request(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
    ) -> Answer:
        connection = http.client.HTTPSConnection(
            "localhost", self.https_port, context=self.context, timeout=60
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def header_list(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
    ) -> Tuple[int, List[Tuple[str, str]]]:
        """Status and every header line as sent (repeated headers kept)."""
        connection = http.client.HTTPSConnection(
            "localhost", self.https_port, context=self.context, timeout=60
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            response.read()
            return response.status, [(name.lower(), value) for name, value in response.getheaders()]
        finally:
            connection.close()

    def send(self, sender: str, message: str) -> Answer:
        self.senders.append(sender)
        body = json.dumps({"sender": sender, "message": message}).encode()
        return self.request("POST", "/webhooks/rest/webhook", body, {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def deployment(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    for address, name in ((POSTGRES, "PostgreSQL"), (REDIS, "Redis")):
        reason = ensure_service(address, name)
        if reason:
            pytest.skip(reason)
    for tool, hint in (
        (NGINX, "make deploy-setup"),
        (shutil.which("openssl") or "/usr/bin/openssl", "make deploy-setup"),
    ):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: run `{hint}` (installs Debian's nginx and openssl)")
    if not (ROOT / "scripts" / "run_rasa.py").is_file():
        pytest.fail("scripts/run_rasa.py is missing: the Rasa unit runs it")

    workdir = tmp_path_factory.mktemp("deploy")
    state = workdir / "state"  # the unit's StateDirectory (and HOME)
    state.mkdir()
    private_tmp = workdir / "tmp"  # PrivateTmp=yes: a /tmp of its own
    private_tmp.mkdir()
    units = read_units(str(ROOT), str(state))
    https_port, http_port, action_port = free_port(), free_port(), free_port()
    rasa_ports = (free_port(), free_port())
    token, staff_token = secrets.token_hex(24), secrets.token_hex(20)

    # The clinic's edits of the example env file: this test's ports, database and origin.
    env_file = read_env_file(ENV_EXAMPLE)
    overrides = {
        "CLINIC_SETTINGS": str(ROOT / "clinic.yml"),
        "ACTION_PORT": str(action_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "TRACKER_STORE_URL": POSTGRES_URL,
        "WIDGET_ORIGINS": f"https://localhost:{https_port} {CLINIC_SITE}",
        "RASA_API_TOKEN": token,
        "STAFF_TOKEN": staff_token,
    }
    assert set(overrides) <= set(env_file), "the example env file lacks a variable the deployment sets"
    env_file.update(overrides)

    def make_service(unit_name: str, instance: str, name: str) -> Service:
        unit = units[unit_name]
        env = service_environment(unit, instance, env_file, home=str(state))
        env["TMPDIR"] = str(private_tmp)
        return Service(
            name,
            service_command(unit, instance, env),
            env,
            unit.value("Service", "WorkingDirectory"),
            workdir / f"{name}.log",
        )

    actions = make_service("sweat-actions.service", "", "actions")
    rasa = [make_service("sweat-rasa@.service", str(port), f"rasa@{port}") for port in rasa_ports]
    make_certificates(workdir)
    config = render_nginx(workdir, https_port, http_port, rasa_ports)
    checked = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(config)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    nginx = Service(
        "nginx",
        [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(config), "-g", "daemon off;"],
        dict(SYSTEMD_BASE_ENV),
        str(workdir),
        workdir / "nginx.log",
    )
    context = ssl.create_default_context(cafile=str(workdir / "ca.pem"))
    deployment = Deployment(workdir, https_port, http_port, token, staff_token, actions, rasa, nginx, context)
    services = [actions, *rasa, nginx]
    try:
        for service in services:
            service.start()
        wait_until(
            lambda: http_status("127.0.0.1", action_port, "/health") == 200, 120, "action server", services
        )
        for port in rasa_ports:
            wait_until(
                lambda port=port: http_status("127.0.0.1", port, "/") == 200, 300, f"Rasa :{port}", services
            )
        wait_until(lambda: deployment.request("GET", "/").status == 200, 30, "nginx", services)
        yield deployment
    finally:
        for service in reversed(services):
            service.stop()
        _delete_conversations(deployment.senders)


def _delete_conversations(senders: List[str]) -> None:
    import psycopg2

    db = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test")
    try:
        with db, db.cursor() as cursor:
            cursor.execute("DELETE FROM events WHERE sender_id LIKE %s", (f"rest:{PREFIX}%",))
            for sender in set(senders) - {s for s in senders if s.startswith(PREFIX)}:
                cursor.execute("DELETE FROM events WHERE sender_id = %s", (f"rest:{sender}",))
    finally:
        db.close()


def faq_text(intent: str) -> str:
    return next(t.text for t in get_knowledge().topics.values() if t.intent == intent)


def escalation_level(answer: Answer) -> Optional[str]:
    for message in answer.json or []:
        level = ((message.get("custom") or {}).get("escalation") or {}).get("level")
        if level:
            return str(level)
    return None


# ----------------------------------------------------------------------- static checks
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "systemd-analyze is not installed (Debian package systemd; `make deploy-setup` installs it)"
        )
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: verify checks that ExecStart's programs exist (run `make setup`)")
    # In this checkout instead of /opt/sweat-clinic, so that ExecStart's programs exist.
    for name, unit in read_units(str(ROOT)).items():
        (tmp_path / name).write_text(unit.text)
    # A template is verified through an instance of it.
    shutil.copy(tmp_path / "sweat-rasa@.service", tmp_path / "sweat-rasa@5005.service")
    files = [
        "sweat-actions.service",
        "sweat-rasa@5005.service",
        "sweat-clinic.target",
        "sweat-retention.service",
        "sweat-retention.timer",
    ]
    result = subprocess.run([analyze, "verify", *files], cwd=tmp_path, capture_output=True, text=True)
    # verify exits 0 on unknown keys and bad values too, but says so: any output is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )

    for name in ("sweat-actions.service", "sweat-rasa@5005.service"):
        security = subprocess.run(
            [analyze, "security", "--offline=yes", name], cwd=tmp_path, capture_output=True, text=True
        )
        found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", security.stdout)
        if found is None:  # older systemd: no offline mode
            print(f"\nsystemd-analyze security --offline unavailable: {security.stderr.strip()[:200]}")
            continue
        print(f"\n{name}: exposure {found.group(1)} {found.group(2)}")
        assert float(found.group(1)) < 5.0, security.stdout  # "OK" or better


def test_units_keep_the_deployment_settings() -> None:
    units = read_units()
    services = {name: unit for name, unit in units.items() if name.endswith(".service")}
    assert set(services) == {"sweat-actions.service", "sweat-rasa@.service", "sweat-retention.service"}
    for name, unit in services.items():
        get = unit.value
        assert get("Service", "EnvironmentFile") == ENV_FILE, name
        assert get("Service", "User") == get("Service", "Group") == "sweat-clinic", name
        assert get("Service", "WorkingDirectory") == INSTALL_DIR, name
        for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices", "RestrictSUIDSGID"):
            assert get("Service", key) == "yes", (name, key)
        assert get("Service", "ProtectSystem") == "strict", name
        assert get("Service", "CapabilityBoundingSet") == "", name
        assert STATE_DIR in get("Service", "ReadWritePaths").split(), name
        exec_start = get("Service", "ExecStart")
        assert not re.search(r"token|auth|secret|RASA_API", exec_start, re.I), (name, exec_start)
    for name in ("sweat-actions.service", "sweat-rasa@.service"):  # the long-running ones
        assert services[name].value("Service", "Restart") == "on-failure", name
        assert services[name].value("Install", "WantedBy") == "sweat-clinic.target", name
    assert units["sweat-retention.timer"].value("Install", "WantedBy") == "timers.target"
    rasa = services["sweat-rasa@.service"].value("Service", "ExecStart").split()
    assert rasa == [
        f"{INSTALL_DIR}/.venv/bin/python",
        "scripts/run_rasa.py",
        "--model",
        "models/current.tar.gz",
        "--port",
        "%i",
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
        "--cors",
        "$WIDGET_ORIGINS",
    ]
    actions = services["sweat-actions.service"]
    assert "SANIC_HOST=${ACTION_HOST}" in actions.value("Service", "ExecStart").split()
    for name in ("sweat-actions.service", "sweat-retention.service"):  # they need no secret
        unset = set(services[name].value("Service", "UnsetEnvironment").split())
        assert {"RASA_API_TOKEN", "TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "STAFF_TOKEN"} <= unset, name


def test_env_example_names_every_setting() -> None:
    values = read_env_file(ENV_EXAMPLE)
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert set(values) <= set(DEFAULTS), f"not a setting (typo?): {set(values) - set(DEFAULTS)}"
    for key in set(DEFAULTS) - set(values):
        # Left out only when a unit sets it (EnvironmentFile= would override the unit).
        assert re.search(rf"^# {key}: set by the unit", text, re.M), f"{key} is not in {ENV_EXAMPLE.name}"
    assert values["RASA_HOST"] == values["ACTION_HOST"] == "127.0.0.1"
    assert values["LOG_LEVEL"] == "INFO"  # DEBUG logs message texts
    assert (
        values["RASA_API_TOKEN"] == values["TELEGRAM_TOKEN"] == values.get("STAFF_TOKEN", "") == ""
    )  # no secret
    assert (values["TRACKER_DIALECT"], values["LOCK_STORE_TYPE"]) == ("postgresql", "redis")
    assert "*" not in values["WIDGET_ORIGINS"]


# ------------------------------------------------------------------- the running deployment
def test_tls_with_the_test_certificate_and_http_redirects(deployment: Deployment) -> None:
    untrusted = ssl.create_default_context()  # the system's CAs only: the test CA is not among them
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", deployment.https_port), timeout=10) as raw:
            untrusted.wrap_socket(raw, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", deployment.https_port), timeout=10) as raw:
        with deployment.context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")

    connection = http.client.HTTPConnection("localhost", deployment.http_port, timeout=10)
    connection.request("GET", "/webhooks/rest/health")
    response = connection.getresponse()
    response.read()
    assert response.status == 301
    assert response.getheader("Location") == "https://localhost/webhooks/rest/health"
    # Let's Encrypt's challenge is answered over plain HTTP, from certbot's webroot.
    challenge = deployment.workdir / "acme" / ".well-known" / "acme-challenge" / "test-token"
    challenge.parent.mkdir(parents=True, exist_ok=True)
    challenge.write_text("test-token.key")
    connection.request("GET", "/.well-known/acme-challenge/test-token")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"test-token.key")
    connection.close()


def test_answers_and_escalations_over_https(deployment: Deployment) -> None:
    health = deployment.request("GET", "/webhooks/rest/health")
    assert health.status == 200 and health.json == {"tracker_store": "ok", "action_server": "ok"}, health

    answer = deployment.send(f"{PREFIX}faq", "how much does it cost?")
    assert answer.status == 200 and faq_text("ask_cost") in answer.texts(), answer
    answer = deployment.send(f"{PREFIX}faq", "/ask_safety")
    assert answer.status == 200 and faq_text("ask_safety") in answer.texts(), answer

    answer = deployment.send(f"{PREFIX}emergency", "I have crushing chest pain and can't breathe")
    assert answer.status == 200 and escalation_level(answer) == "emergency", answer
    answer = deployment.send(f"{PREFIX}urgent", "I have a pacemaker, can I use it?")
    assert answer.status == 200 and escalation_level(answer) == "urgent", answer


def test_telegram_webhook_is_proxied(deployment: Deployment) -> None:
    # The channel is off here (no TELEGRAM_TOKEN): Rasa, not nginx, answers 503.
    answer = deployment.request(
        "POST", "/webhooks/telegram/webhook", b"{}", {"Content-Type": "application/json"}
    )
    assert answer.status == 503 and answer.is_json, answer
    assert answer.headers["cache-control"] == "no-store"


def test_retention_unit_runs(deployment: Deployment) -> None:
    # Its ExecStart, with the environment systemd gives it, on a store of its own (the
    # shared PostgreSQL database holds other tests' conversations).
    unit = read_units(str(ROOT), str(deployment.workdir / "state"))["sweat-retention.service"]
    env_file = read_env_file(ENV_EXAMPLE)
    store = deployment.workdir / "state" / "retention.db"
    env_file.update(TRACKER_DIALECT="sqlite", TRACKER_STORE_URL=f"sqlite:///{store}")
    env = service_environment(unit, "", env_file, home=str(deployment.workdir / "state"))
    assert "RASA_API_TOKEN" not in env
    result = subprocess.run(
        service_command(unit, "", env),
        cwd=unit.value("Service", "WorkingDirectory"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_security_and_caching_headers(deployment: Deployment) -> None:
    page = deployment.request("GET", "/")
    widget = deployment.request("GET", "/widget/widget.js")
    reply = deployment.send(f"{PREFIX}headers", "hello")
    missing = deployment.request("GET", "/no-such-page")
    for answer in (page, widget, reply, missing):
        headers = answer.headers
        assert headers["strict-transport-security"].startswith("max-age="), headers
        assert int(headers["strict-transport-security"].split("=")[1].split(";")[0]) >= 15_552_000
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        csp = headers["content-security-policy"]
        for directive in (
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ):
            assert directive in csp, (directive, csp)
        assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
        assert headers["server"] == "nginx", headers  # no version
    assert (
        page.status == 200 and page.headers["cache-control"] == "no-cache" and "last-modified" in page.headers
    )
    assert widget.status == 200 and widget.headers["cache-control"] == "public, max-age=3600"
    assert "etag" in widget.headers
    assert widget.headers["content-type"] == "application/javascript"
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert missing.status == 404
    # The demo page's widget talks to this site, not to a development server.
    assert f'data-rasa-url="{deployment.origin}"'.encode() in page.raw
    assert b"127.0.0.1:5005" not in page.raw


def test_widget_on_the_clinic_website_may_call_the_rest_channel(deployment: Deployment) -> None:
    # A browser on the clinic's site asks first (CORS preflight); other sites get no grant.
    def preflight(origin: str) -> Answer:
        return deployment.request(
            "OPTIONS",
            "/webhooks/rest/webhook",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )

    allowed = preflight(CLINIC_SITE)
    assert allowed.headers.get("access-control-allow-origin") == CLINIC_SITE, allowed.headers
    other = preflight("https://elsewhere.example")
    assert "access-control-allow-origin" not in other.headers, other.headers
    body = json.dumps({"sender": f"{PREFIX}cors", "message": "/ask_cost"}).encode()
    deployment.senders.append(f"{PREFIX}cors")
    answer = deployment.request(
        "POST", "/webhooks/rest/webhook", body, {"Content-Type": "application/json", "Origin": CLINIC_SITE}
    )
    assert answer.status == 200 and answer.headers.get("access-control-allow-origin") == CLINIC_SITE
    assert faq_text("ask_cost") in answer.texts()


def test_staff_page_keeps_its_own_headers_and_gets_a_secure_cookie(deployment: Deployment) -> None:
    status, headers = deployment.header_list("GET", "/webhooks/staff/")
    assert status == 401, headers  # the login form
    names = [name for name, _ in headers]
    for name in (
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "cache-control",
        "x-content-type-options",
    ):
        assert names.count(name) == 1, (name, headers)  # the page's own, not doubled by nginx
    values = dict(headers)
    assert "unsafe-inline" not in values["content-security-policy"]  # the page's stricter one
    assert values["cache-control"] == "no-store" and "strict-transport-security" in values

    form = f"token={deployment.staff_token}".encode()
    status, headers = deployment.header_list(
        "POST", "/webhooks/staff/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    cookies = [value for name, value in headers if name == "set-cookie"]
    assert status == 303 and len(cookies) == 1, (status, headers)
    # Rasa sees plain HTTP from nginx; X-Forwarded-Proto tells it the patient's side is HTTPS.
    assert "secure" in cookies[0].lower() and "httponly" in cookies[0].lower(), cookies


def test_rasa_on_loopback_api_not_proxied_token_not_on_a_command_line(deployment: Deployment) -> None:
    ports = [int(service.env["RASA_PORT"]) for service in deployment.rasa]
    ports.append(int(deployment.actions.env["ACTION_PORT"]))
    for port in ports:
        assert listening_addresses(port) == ["127.0.0.1"], (port, listening_addresses(port))

    # Rasa's HTTP API is on (the token is set) but only on loopback; nginx does not pass it on.
    rasa_port = ports[0]
    connection = http.client.HTTPConnection("127.0.0.1", rasa_port, timeout=10)
    connection.request("GET", f"/status?token={deployment.token}")
    assert connection.getresponse().status == 200
    connection.close()
    for path in ("/status", f"/conversations/rest:{PREFIX}faq/tracker", "/model"):
        assert deployment.request("GET", path).status == 404, path

    # The token reached the Rasa processes through the environment only.
    for service in deployment.rasa:
        assert service.process is not None
        group = os.getpgid(service.process.pid)
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                if os.getpgid(int(pid)) != group:
                    continue
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue
            assert deployment.token.encode() not in cmdline, cmdline.replace(b"\0", b" ")
        environ = Path(f"/proc/{service.process.pid}/environ").read_bytes().split(b"\0")
        assert f"RASA_API_TOKEN={deployment.token}".encode() in environ
        assert b"RASA_HOST=127.0.0.1" in environ


def test_widget_chats_through_nginx_in_chromium(deployment: Deployment) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make widget-setup` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Chromium trusts exactly the test certificate's key (no certificate errors ignored).
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(deployment.workdir / 'server.pem')}"
    requests: List[str] = []
    errors: List[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, trust])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(deployment.origin + "/")
            page.get_by_role("button", name="Questions? Chat with us").click()
            bots = page.locator(".sca-bot")
            expect(bots.first).to_contain_text(GREETING, timeout=20_000)
            expect(page.locator(".sca-typing")).to_be_hidden()
            before = bots.count()
            page.get_by_label("Your question").fill("Is it safe to use?")
            page.get_by_label("Your question").press("Enter")
            expect(bots).not_to_have_count(before, timeout=20_000)
            expect(page.locator(".sca-log")).to_contain_text(faq_text("ask_safety")[:60])
            expect(page.locator(".sca-error")).to_have_count(0)
            state = page.evaluate("() => JSON.parse(localStorage.getItem('sweat-clinic-chat:v1'))")
            deployment.senders.append(state["sender"])  # deleted at the end
            context.close()
        finally:
            browser.close()
    webhook_calls = [url for url in requests if "/webhooks/" in url]
    assert len(webhook_calls) >= 2, requests  # the greeting and the question
    assert all(url == f"{deployment.origin}/webhooks/rest/webhook" for url in webhook_calls), webhook_calls
    assert not errors, errors


def test_edge_rate_limit_past_the_burst(deployment: Deployment) -> None:
    # 80 requests at once from one address: the burst (30) passes, the rest gets 429
    # before reaching Rasa, with the security headers.
    answers: List[Answer] = []
    lock = threading.Lock()
    barrier = threading.Barrier(80)

    def one() -> None:
        barrier.wait()
        answer = deployment.request("GET", "/webhooks/rest/health")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(80)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status for answer in answers)
    limited = [answer for answer in answers if answer.status == 429]
    assert limited and statuses.count(200) >= 1, statuses
    assert set(statuses) <= {200, 429}, statuses
    assert all(answer.headers.get("x-content-type-options") == "nosniff" for answer in limited)
    # The static files are not limited.
    assert deployment.request("GET", "/widget/widget.css").status == 200
    # Let the bucket drain before the next test: one request passing means room for one,
    # not for the next test's burst; the site's burst of 30 at 5 requests a second
    # empties 6 s after that.
    deadline = time.monotonic() + 30
    while deployment.request("GET", "/webhooks/rest/health").status == 429 and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(30 / 5)


def test_conversation_continues_after_an_instance_is_killed(deployment: Deployment) -> None:
    sender = f"{PREFIX}failover"
    # With one nginx worker, consecutive requests alternate between the two instances,
    # so the instance killed below served at least one of these turns.
    first = deployment.send(sender, "/ask_cost")
    assert first.status == 200 and faq_text("ask_cost") in first.texts(), first
    second = deployment.send(sender, "thanks!")
    assert second.status == 200 and "anything else" in second.texts(), second

    killed, survivor = deployment.rasa
    killed.signal(signal.SIGKILL)
    assert killed.process is not None
    killed.process.wait(20)
    assert listening_addresses(int(killed.env["RASA_PORT"])) == []

    # "yes" is answered from the state the earlier turns left: the tracker was shared.
    third = deployment.send(sender, "/affirm")
    assert third.status == 200 and "Sure, what would you like to know?" in third.texts(), third
    for _ in range(3):  # every request, including the first tried on the dead one, is answered
        answer = deployment.send(sender, "/ask_insurance")
        assert answer.status == 200 and faq_text("ask_insurance") in answer.texts(), answer

    # The survivor sees the whole conversation, and the shared store holds every turn once.
    connection = http.client.HTTPConnection("127.0.0.1", int(survivor.env["RASA_PORT"]), timeout=10)
    connection.request("GET", f"/conversations/rest:{sender}/tracker?token={deployment.token}")
    response = connection.getresponse()
    tracker = json.loads(response.read())
    connection.close()
    assert response.status == 200, tracker
    assert "/affirm" in [event.get("text") for event in tracker["events"] if event.get("event") == "user"]
    assert _user_texts(f"rest:{sender}") == ["/ask_cost", "thanks!", "/affirm"] + ["/ask_insurance"] * 3


def _user_texts(sender_id: str) -> List[str]:
    """The user messages PostgreSQL holds for a conversation, in order."""
    import psycopg2

    db = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test")
    try:
        with db, db.cursor() as cursor:
            cursor.execute(
                "SELECT data FROM events WHERE sender_id = %s AND type_name = 'user' ORDER BY id",
                (sender_id,),
            )
            return [json.loads(row[0]).get("text") for row in cursor.fetchall()]
    finally:
        db.close()
