"""All configuration, read once at start-up from ``HELPLINE_*`` environment variables.

Every field is documented here and in ``docs/configuration.md``; nothing else in the code base reads
the environment.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _var_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    """Helpline's settings. Unset values fall back to an embedded, single-machine install under ``./var``."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", extra="ignore")

    var_dir: Path = Field(default_factory=_var_dir)
    """Folder for the SQLite database, the generated secret key and stored files (default ``./var``)."""

    database_url: str = ""
    """SQLAlchemy URL. Empty means ``sqlite+aiosqlite:///<var_dir>/helpline.db``.
    ``postgresql://…`` is accepted and run with the asyncpg driver."""

    redis_url: str = ""
    """Optional Redis URL. When set, pub/sub, cache, rate limits and login throttling are shared through
    Redis, so several ``helpline serve`` processes can run side by side."""

    redis_prefix: str = "helpline:"
    """Put before every Redis key and pub/sub channel name. Channels and keys are named by workspace id
    (``ws:<id>:…``), so two installs sharing one Redis (or one Redis database) must each have their own
    prefix, or they would hear each other's events and share counters. Every process of one install
    uses the same prefix."""

    secret_key: str = ""
    """Key for signing links (password resets, widget identities). When unset, one is generated on
    first run into ``<var_dir>/secret_key`` with mode 0600 and reused."""

    base_url: str = "http://127.0.0.1:8000"
    """The public address of this install, used in links sent by email. When unset, pages (the chat
    widget's snippet, the help centre's canonical links) use the address they were served at."""

    environment: str = "development"
    """``development`` or ``production``. Production refuses insecure settings (http base URL,
    console mail)."""

    mail_transport: str = "console"
    """``console`` (print outgoing mail to the log) or ``smtp``."""

    smtp_host: str = "127.0.0.1"
    """SMTP server for outgoing notifications when ``mail_transport`` is ``smtp``."""

    smtp_port: int = 25
    """SMTP port."""

    smtp_username: str = ""
    """SMTP user name; empty for no authentication."""

    smtp_password: str = ""
    """SMTP password."""

    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS."""

    mail_from: str = "Helpline <helpline@localhost>"
    """From address of notifications."""

    files_dir: Path | None = None
    """Where attachments are stored (content-addressed). Default ``<var_dir>/files``."""

    max_attachment_bytes: int = 20 * 1024 * 1024
    """Largest attachment accepted, in bytes."""

    max_request_bytes: int = 30 * 1024 * 1024
    """Largest request body accepted, in bytes; larger requests get 413."""

    max_json_bytes: int = 1024 * 1024
    """Largest JSON request body accepted, in bytes."""

    blocked_attachment_types: list[str] = [
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-sh",
        "application/javascript",
        "text/html",
    ]
    """Content types refused as attachments."""

    login_max_failures: int = 5
    """Failed sign-ins allowed per account and address within ``login_window_seconds`` before throttling."""

    login_window_seconds: int = 900
    """Window of the login throttle, in seconds."""

    session_days: int = 14
    """How long a web session lives after sign-in, in days."""

    run_jobs_in_process: bool = True
    """Run background jobs inside ``helpline serve`` (embedded mode). Turn off when ``helpline worker``
    processes do the work."""

    metrics_token: str = ""
    """Bearer token that ``GET /metrics`` (Prometheus text format: feed lag per consumer, the job
    queue) requires. Empty: the endpoint does not exist (404). Use at least 32 random characters."""

    db_pool_size: int = 10
    """Connections per process in the database pool (PostgreSQL; SQLite readers). Up to twice as
    many open under load."""

    egress_allow: str = ""
    """Internal hosts that Helpline may connect to on a user's behalf (mailboxes' IMAP and SMTP
    servers, OAuth2 token endpoints), which it otherwise refuses along with every port but the
    purpose's own: comma-separated ``host``, ``host:port``, IP addresses and CIDR networks, each
    optionally with ``:port`` (``mail.internal``, ``10.0.0.0/8``, ``127.0.0.1:1143``,
    ``[fd00::25]:25``). An entry lifts the address and port checks for what it names only; a host
    name entry trusts whatever that name resolves to. A bad entry stops start-up (ADR 0012)."""

    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """How long an outbound webhook delivery waits for the receiver's answer (connecting included)
    before the attempt counts as failed and is retried later (docs/webhooks.md)."""

    # --- email channel (docs/email.md) ---------------------------------------------------------

    smtp_receiver_port: int = 0
    """Port of the built-in SMTP receiver for inbound mail (an MX, or a forwarding rule's target); 0 turns it
    off. It runs inside ``helpline serve`` when jobs run in-process, else inside ``helpline worker``."""

    smtp_receiver_host: str = "127.0.0.1"
    """Address the SMTP receiver listens on."""

    smtp_receiver_tls_cert_file: str = ""
    """PEM certificate (chain) of the SMTP receiver; when set, it offers STARTTLS to sending servers
    (optional for them: servers that cannot do TLS still deliver)."""

    smtp_receiver_tls_key_file: str = ""
    """PEM private key of that certificate; empty when the certificate file holds the key too."""

    email_ca_file: str = ""
    """PEM file of extra CA certificates trusted, besides the system's, for the mail servers Helpline
    connects to (mailboxes' IMAP and SMTP servers, the install's SMTP server): a private CA, or a
    self-signed server certificate itself. Certificates are always verified."""

    imap_fetchers: bool = True
    """Run an IMAP fetcher for each mailbox with an IMAP host, in the process that runs the SMTP receiver."""

    imap_poll_seconds: int = 60
    """How often a fetcher checks its mailbox when the server has no IDLE, and how long one IDLE lasts."""

    email_authserv_id: str = ""
    """The authserv-id of our own receiving host: only its Authentication-Results (SPF/DKIM/DMARC)
    are recorded."""

    email_max_message_bytes: int = 25 * 1024 * 1024
    """Largest inbound email, in bytes, by every transport: the SMTP receiver refuses larger mail
    (SIZE, 552), the raw-MIME webhook answers 413, and larger mail fetched by IMAP goes to the
    failed-mail list."""

    email_max_parts: int = 500
    """Inbound mail with more MIME parts than this goes to the failed-mail list."""

    email_parse_timeout_seconds: float = 20.0
    """Inbound mail that takes longer than this to parse goes to the failed-mail list."""

    email_new_tickets_per_sender_per_hour: int = 20
    """New tickets one sender may open by email per mailbox within an hour; more are kept but make
    no ticket."""

    email_auto_acks_per_sender_per_hour: int = 1
    """Acknowledgements sent to one address within an hour, at most (stops auto-reply loops)."""

    email_send_max_attempts: int = 8
    """Attempts to send one outbound email before it is marked failed."""

    email_send_timeout_seconds: float = 30.0
    """Timeout of one SMTP send."""

    email_signature: str = ""
    """Text appended to every agent reply sent by email, after a "-- " line."""

    # --- chat channel (docs/chat.md) -----------------------------------------------------------

    chat_max_message_chars: int = 4000
    """Longest chat message accepted, in characters (visitors and agents)."""

    chat_starts_per_hour: int = 10
    """Chats (and offline-form messages) one address may start per widget within an hour."""

    chat_messages_per_minute: int = 60
    """Messages one chat's visitor may send within a minute."""

    chat_max_upload_bytes: int = 10 * 1024 * 1024
    """Largest file a chat visitor may send, in bytes."""

    # --- knowledge base (docs/knowledge-base.md) ------------------------------------------------

    kb_bot_threshold: float | None = None
    """Confidence (0-1) below which the answer bot hands over to a person; unset: 0.9 with semantic
    search on SQLite, 0.85 on PostgreSQL, 0.65 lexical only (about 95 % precision on BANKING77)."""

    @field_validator("egress_allow")
    @classmethod
    def _check_egress_allow(cls, value: str) -> str:
        from helpline.platform.egress import parse_allow

        parse_allow(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            value = "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        return value

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'helpline.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_files_dir(self) -> Path:
        return self.files_dir or self.var_dir / "files"

    def public_url(self, served: str | None = None) -> str:
        """The install's public address, without a trailing slash: ``base_url`` when it was set;
        otherwise ``served`` (the address a page was requested at), else the default."""
        if "base_url" in self.model_fields_set or not served:
            return self.base_url.rstrip("/")
        return served.rstrip("/")

    def ensure_secret_key(self) -> str:
        """Return the configured key, or the one kept in ``var/secret_key``, creating it (0600) if needed."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            self.secret_key = path.read_text().strip()
            return self.secret_key
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        self.secret_key = key
        return key

    def problems(self) -> list[str]:
        """Settings that are unsafe for the chosen environment, as sentences a person can act on."""
        found: list[str] = []
        if self.environment == "production":
            if not self.base_url.startswith("https://"):
                found.append("HELPLINE_BASE_URL must start with https:// in production.")
            if self.mail_transport == "console":
                found.append("HELPLINE_MAIL_TRANSPORT=console sends no mail; set it to smtp in production.")
            if self.metrics_token and len(self.metrics_token) < 32:
                found.append("HELPLINE_METRICS_TOKEN is short: use at least 32 random characters.")
        if self.mail_transport not in {"console", "smtp"}:
            found.append("HELPLINE_MAIL_TRANSPORT must be 'console' or 'smtp'.")
        for name, path in (
            ("HELPLINE_EMAIL_CA_FILE", self.email_ca_file),
            ("HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE", self.smtp_receiver_tls_cert_file),
            ("HELPLINE_SMTP_RECEIVER_TLS_KEY_FILE", self.smtp_receiver_tls_key_file),
        ):
            if path and not os.path.isfile(path):
                found.append(f"{name}={path} is not a file.")
        if self.smtp_receiver_tls_key_file and not self.smtp_receiver_tls_cert_file:
            found.append(
                "HELPLINE_SMTP_RECEIVER_TLS_KEY_FILE is set without HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE."
            )
        return found
