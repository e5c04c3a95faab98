"""A real Dovecot IMAP server on loopback, started and stopped by a fixture (no systemd).

As root, Dovecot's login processes refuse to run as root, so the whole instance runs as ``nobody``
in a folder made with ``mkdtemp`` (pytest's tmp_path is not reachable by nobody).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER, PASSWORD = "agent", "secret"

CONF = """protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    user: str = USER
    password: str = PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        why = "dovecot is not installed (apt-get install -y dovecot-imapd)"
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Dovecot is required here: {why}")
        print(f"skipping IMAP tests: {why}")
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="helpline-dovecot-"))
    root = os.geteuid() == 0
    if root:
        import grp
        import pwd

        pw = pwd.getpwnam("nobody")
        uid, gid, user = pw.pw_uid, pw.pw_gid, "nobody"
        group = grp.getgrgid(gid).gr_name
    else:
        import grp
        import pwd

        uid, gid = os.getuid(), os.getgid()
        user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    port = _free_port()
    for sub in ("run", "state", "mail"):
        (d / sub).mkdir()
    (d / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    conf = d / "dovecot.conf"
    conf.write_text(CONF.format(d=d, user=user, group=group, uid=uid, gid=gid, port=port))
    if root:
        for path in [d, *d.rglob("*")]:
            os.chown(path, uid, gid)
    kwargs = {"user": uid, "group": gid, "extra_groups": []} if root else {}
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                log = (d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start: {log[-2000:]}")
            time.sleep(0.05)
        yield Dovecot("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, ignore_errors=True)
