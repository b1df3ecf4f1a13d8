"""No token or key in any log line: the redacting filter on real log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cliproxy.config.schema import CodexApiKey, Config, RemoteManagement, State
from cliproxy.credential import Credential
from cliproxy.observe.logs import MASK, REDACTOR, RedactingFilter, known_secrets, mask, setup_logging
from tests.helpers import access_token


@pytest.fixture
def capture() -> tuple[logging.Logger, list[str], RedactingFilter]:
    logger = logging.getLogger("test.redaction")
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    redactor = RedactingFilter()
    handler = ListHandler()
    handler.addFilter(redactor)
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, lines, redactor


def test_registered_secrets_and_patterns_are_masked(capture: tuple[logging.Logger, list[str], RedactingFilter]) -> None:
    logger, lines, redactor = capture
    jwt = access_token("secret-account", "acc-1")
    redactor.register(["client-key-123456"])
    logger.warning("client %s sent Authorization: Bearer %s", "client-key-123456", "opaque-token-value")
    logger.warning("upstream said %s and refresh rt_abcdef123456 key sk-proj-abcdefgh", jwt)
    text = "\n".join(lines)
    for secret in ("client-key-123456", "opaque-token-value", jwt, "rt_abcdef123456", "sk-proj-abcdefgh"):
        assert secret not in text
    assert text.count(MASK) >= 5 and "Bearer " in text


def test_exception_text_is_masked_too(capture: tuple[logging.Logger, list[str], RedactingFilter]) -> None:
    logger, lines, redactor = capture
    redactor.register(["tok-very-secret"])
    try:
        raise RuntimeError("failed with tok-very-secret")
    except RuntimeError:
        logger.exception("boom")
    text = "\n".join(lines)
    assert "tok-very-secret" not in text and "RuntimeError" in text and MASK in text


SECRETS = {"client": "client-key-0123456789", "upstream": "ck-upstream-0123456789",
           "management": "mgmt-secret-0123456789", "password": "env-password-0123", "redis": "redis-pw-0123456",
           "accounts": "accounts-key-0123456789"}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """``setup_logging`` rewires the root logger; the test leaves it as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    REDACTOR.register(())


def test_setup_logging_knows_the_config_secrets_before_the_first_line(
        root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    config = Config(api_keys=(SECRETS["client"],), remote_management=RemoteManagement(secret_key=SECRETS["management"]),
                    codex_api_key=(CodexApiKey(api_key=SECRETS["upstream"], base_url="http://127.0.0.1:1"),),
                    state=State(url=f"redis://cache:{SECRETS['redis']}@10.0.0.5:6379/0",
                                accounts_key=SECRETS["accounts"]))
    setup_logging(False, known_secrets(config, environ={"MANAGEMENT_PASSWORD": SECRETS["password"]}))
    logging.getLogger("cliproxy.test").warning("first line: %s", " ".join(SECRETS.values()))
    first = capsys.readouterr().err
    assert "first line" in first and not [name for name, secret in SECRETS.items() if secret in first]


def test_account_tokens_join_the_config_secrets() -> None:
    account = Credential(id="a.json", kind="oauth", access_token="access-0123456789", base_url="http://127.0.0.1:1",
                         refresh_token="refresh-0123456")
    assert known_secrets(Config(api_keys=("k" * 12,)), [account], environ={}) == [
        "k" * 12, "access-0123456789", "refresh-0123456"]


@pytest.mark.parametrize(("value", "shown"), [("", ""), ("abc", "…"), ("abcdef", "ab…"), ("0123456789", "01…"),
                                               ("sk-0123456789abcd", "sk-0…abcd")])
def test_mask_shows_a_stub_never_the_whole_secret(value: str, shown: str) -> None:
    assert mask(value) == shown
