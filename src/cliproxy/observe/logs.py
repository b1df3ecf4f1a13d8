"""Logging set-up with a redacting filter: no token or key ever reaches a log line or a listing.

Known secrets are one list, ``known_secrets``: client API keys, ``codex-api-key`` keys, the
management secret and password, and account tokens. ``setup_logging`` registers the config's
before the first line is written, the server registers the accounts' once they are read and again
on every reload, and a refreshed token is added as it arrives. A few patterns (Bearer values, JWTs,
``sk-`` keys, refresh tokens) catch what was never registered. Where a secret must be shown (a key
listed in management, an account id in ``cliproxy accounts``), ``mask`` shows a recognisable stub.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from cliproxy.config.schema import Config
    from cliproxy.credential import Credential

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"\b(sk|rt|sess)[-_][A-Za-z0-9_-]{6,}"),
)
MASK = "[redacted]"
MANAGEMENT_PASSWORD_ENV = "MANAGEMENT_PASSWORD"  # the management API's password outside the file


def mask(value: str, keep: int = 4) -> str:
    """``8f1c…a2b3``: enough to tell two apart, not enough to use. A value too short to keep both
    ends shows its first two characters, and one shorter than six shows nothing."""
    if not value:
        return ""
    if len(value) <= keep * 2 + 2:
        return value[:2] + "…" if len(value) >= 6 else "…"
    return f"{value[:keep]}…{value[-keep:]}"


def known_secrets(config: Config, credentials: Iterable[Credential] = (),
                  environ: Mapping[str, str] = os.environ) -> list[str]:
    """Every secret the redactor must know: the config's keys and management secret, the management
    password from the environment, the Redis password of the shared state, and each account's tokens."""
    from cliproxy.config.load import accounts_keys  # loaded already wherever a config was

    secrets = [*config.api_keys, *(entry.api_key for entry in config.codex_api_key),
               config.remote_management.secret_key, environ.get(MANAGEMENT_PASSWORD_ENV, ""),
               *(entry.key for entry in config.client_keys)]
    amp = config.ampcode  # the Amp keys sent to ampcode.com, and Amp's own from the environment
    secrets += [amp.upstream_api_key, *(entry.upstream_api_key for entry in amp.upstream_api_keys),
                environ.get("AMP_API_KEY", "")]
    secrets.append(urlsplit(config.state.url).password or "")  # CLIPROXY_STATE_URL is already in it
    secrets += accounts_keys(config.state.accounts_key)  # CLIPROXY_ACCOUNTS_KEY is in it too
    for credential in credentials:
        secrets += [credential.access_token, credential.refresh_token]
    return [secret for secret in secrets if secret]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with every known secret and secret-looking value masked."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()

    def register(self, secrets: Iterable[str]) -> None:
        """Replace the known secrets (start-up, reload)."""
        self._secrets = frozenset(s for s in secrets if s and len(s) >= 6)

    def add(self, secrets: Iterable[str]) -> None:
        """Add secrets learnt while running (a refreshed token)."""
        self._secrets = self._secrets | {s for s in secrets if s and len(s) >= 6}

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.re.groups and m.group(1) and
                                          m.group(1).lower().startswith("bearer") else "") + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error":  # uvicorn's general logger, not an error
            record.name = "uvicorn"
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


REDACTOR = RedactingFilter()


def log_formatter() -> logging.Formatter:
    """One line per record, the same on standard error and in the log files."""
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")


def setup_logging(debug: bool = False, secrets: Iterable[str] = ()) -> None:
    """One stderr handler for our loggers and uvicorn's, every record passing the redactor, which
    knows ``secrets`` before the first record is written."""
    REDACTOR.register(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter())
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
