"""No token or key in any log line: the redacting filter on real log records."""

from __future__ import annotations

import logging

import pytest

from cliproxy.observe.logs import MASK, RedactingFilter
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
