"""A real Dovecot IMAP server on loopback, started and stopped by a fixture (no systemd).

As root, Dovecot's login processes refuse to run as root, so the whole instance runs as ``nobody``
in a folder made with ``mkdtemp`` (pytest's tmp_path is not reachable by nobody).

``dovecot`` is a plain server (no TLS, passwords). ``dovecot_tls`` requires TLS (``ssl = required``:
implicit TLS on its ``imaps`` port, STARTTLS before any login on its plain port) with a certificate
from a private CA, and also accepts OAuth2 bearer tokens (XOAUTH2, OAUTHBEARER) that it checks
against a token introspection endpoint run by the test (:mod:`tests.integration.email.tls`).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.email.tls import Certs, Introspection, introspection_server, make_certs

USER, PASSWORD = "agent", "secret"

CONF = """protocols = imap
listen = {listen}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:{d}/mail/%u
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
{passwd_mechanisms}}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
{anvil}}}
{extra}"""

#: Refused logins are the point of some tests: answer them at once, without the 2 s delay and the
#: per-IP penalty that grows to 15 s (the penalty is off when its anvil socket cannot be opened).
NO_AUTH_DELAY = "auth_failure_delay = 0\n"
NO_PENALTY = """  unix_listener anvil-auth-penalty {
    mode = 0
  }
"""

#: ``ssl = required``: no login before TLS (Dovecot then also refuses plaintext authentication).
SSL_REQUIRED = """ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2"""

OAUTH_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
"""

#: RFC 7662 introspection by POST; a token is good while the answer says ``"active": true``.
OAUTH_CONF = """introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


@dataclass
class Dovecot:
    host: str
    port: int
    user: str = USER
    password: str = PASSWORD
    imaps_port: int = 0  # implicit TLS (only with certs)
    certs: Certs | None = None
    oauth: Introspection | None = None
    log_path: Path | None = None

    def log(self) -> str:
        """Dovecot's log so far (logins say ``TLS`` when the session was encrypted)."""
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the server's private CA (for the tests' own IMAP helpers)."""
        assert self.certs is not None
        return ssl.create_default_context(cafile=str(self.certs.ca))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # free on every address: the TLS server listens on two
        return int(s.getsockname()[1])


def _binary() -> str:
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        why = "dovecot is not installed (apt-get install -y dovecot-imapd)"
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Dovecot is required here: {why}")
        print(f"skipping IMAP tests: {why}")
        pytest.skip(why)
    return binary


@contextmanager
def run_dovecot(*, tls: bool = False, oauth: bool = False, port: int | None = None) -> Iterator[Dovecot]:
    """Start Dovecot in a fresh folder and stop it afterwards; ``tls`` requires TLS (certificates from
    a private CA made here), ``oauth`` adds an OAuth2 passdb backed by a local introspection server;
    ``port``, the IMAP port, when the caller chose it (a server allowed through the egress guard before
    Dovecot starts)."""
    binary = _binary()
    d = Path(tempfile.mkdtemp(prefix="helpline-dovecot-"))
    root = os.geteuid() == 0
    import grp
    import pwd

    if root:
        pw = pwd.getpwnam("nobody")
        uid, gid, user = pw.pw_uid, pw.pw_gid, "nobody"
    else:
        uid, gid = os.getuid(), os.getgid()
        user = pwd.getpwuid(uid).pw_name
    group = grp.getgrgid(gid).gr_name
    # The TLS server is reached as 127.0.0.2 (its certificate's only name) from 127.0.0.1: Dovecot
    # counts a connection whose two ends have the same address as secure, and would then accept a
    # password without TLS. It also listens on 127.0.0.1, where its certificate does not match.
    host = "127.0.0.2" if tls else "127.0.0.1"
    port = port or _free_port()
    imaps_port = _free_port() if tls else 0
    proc: subprocess.Popen[bytes] | None = None
    with introspection_server() if oauth else _nothing() as introspection:
        try:
            for sub in ("run", "state", "mail"):
                (d / sub).mkdir()
            (d / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
            certs = make_certs(d / "tls", host) if tls else None
            if introspection is not None:
                (d / "oauth2.conf.ext").write_text(OAUTH_CONF.format(url=introspection.url))
            conf = d / "dovecot.conf"
            conf.write_text(
                CONF.format(
                    d=d,
                    listen="127.0.0.1, 127.0.0.2" if tls else "127.0.0.1",
                    user=user,
                    group=group,
                    uid=uid,
                    gid=gid,
                    port=port,
                    imaps_port=imaps_port,
                    ssl=SSL_REQUIRED.format(cert=certs.cert, key=certs.key) if certs else "ssl = no",
                    mechanisms="plain login xoauth2 oauthbearer" if oauth else "plain login",
                    oauth_passdb=OAUTH_PASSDB.format(d=d) if oauth else "",
                    passwd_mechanisms="  mechanisms = plain login\n" if oauth else "",
                    anvil=NO_PENALTY if tls or oauth else "",
                    extra=NO_AUTH_DELAY if tls or oauth else "",
                )
            )
            if root:
                for path in [d, *d.rglob("*")]:
                    os.chown(path, uid, gid)
            kwargs = {"user": uid, "group": gid, "extra_groups": []} if root else {}
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **kwargs,
            )  # type: ignore[call-overload]
            deadline = time.monotonic() + 15
            while True:
                try:
                    with socket.create_connection((host, port), timeout=1) as s:
                        if s.recv(100).startswith(b"* OK"):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    log = (d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""
                    pytest.fail(f"Dovecot did not start: {log[-2000:]}")
                time.sleep(0.05)
            yield Dovecot(
                host,
                port,
                imaps_port=imaps_port,
                certs=certs,
                oauth=introspection,
                log_path=d / "dovecot.log",
            )
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            shutil.rmtree(d, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with run_dovecot() as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    with run_dovecot(tls=True, oauth=True) as server:
        yield server
