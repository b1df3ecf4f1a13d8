"""Request logs: with ``request-log`` one redacted 0600 file per request; without it only failed
requests, the newest ``error-logs-max-files`` kept."""

from __future__ import annotations

from pathlib import Path

import httpx

from cliproxy.observe.request_log import RequestLogEntry, redact_value, render
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import access_token, write_account
from tests.serve_process import run_configured

KEY = "sk-client-logged-5555"
TOKEN = access_token("access-logged-0987654321", "acc-1")


def chat(url: str, **extra: object) -> httpx.Response:
    body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hello there"}], **extra}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})


def test_request_log_on_writes_one_redacted_private_file_per_request(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", TOKEN, "acc-1")
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, f"request-log: true\napi-keys: [{KEY}]\n") as proxy:
        assert chat(proxy.url).status_code == 200
        assert chat(proxy.url, stream=True).status_code == 200
        logger = proxy.services.ops.request_log
        assert logger is not None
        logger.close()  # waits for the writer
        files = sorted(logger.directory.glob("request-*.log"))
    assert len(files) == 2
    for path in files:
        text = path.read_text()
        assert path.stat().st_mode & 0o777 == 0o600
        assert KEY not in text and TOKEN not in text and "authorization: [redacted]" in text
        assert "POST /v1/chat/completions" in text and "hello there" in text and "account: a@example.com" in text
    assert any("data: [DONE]" in p.read_text() for p in files)  # the streamed answer as the client got it


def test_request_log_off_keeps_only_the_newest_error_logs(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", TOKEN, "acc-1")
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, f"error-logs-max-files: 2\napi-keys: [{KEY}]\n") as proxy:
        assert chat(proxy.url).status_code == 200
        for _ in range(4):
            fake.script(TOKEN, Reply(status=400, body={"detail": "Unsupported parameter: x"}))
            assert chat(proxy.url).status_code == 400
        logger = proxy.services.ops.request_log
        assert logger is not None
        logger.close()
        assert not list(logger.directory.glob("request-*.log"))
        errors = list(logger.directory.glob("error-*.log"))
    assert len(errors) == 2
    assert all("status: 400" in p.read_text() and KEY not in p.read_text() for p in errors)


def test_rendering_masks_token_fields_but_keeps_token_counts() -> None:
    body = {"access_token": "eyJhbGciOi.secret.part", "nested": {"api_key": "sk-zzz"}, "max_tokens": 50}
    assert redact_value(body) == {"access_token": "[redacted]", "nested": {"api_key": "[redacted]"},
                                  "max_tokens": 50}
    entry = RequestLogEntry(request_id="abc", started=0.0, method="POST", url="/v1/responses",
                            headers=[("X-Api-Key", "sk-live-123456"), ("User-Agent", "codex")], body=body,
                            response=b"data: Bearer sk-live-123456\n\n")
    text = render(entry)
    assert "sk-live-123456" not in text and "User-Agent: codex" in text and '"max_tokens": 50' in text
