"""The calls CLIProxyAPI's Management Center makes for its accounts, quota and config pages, answered
in the shapes it reads; ``api-call`` never becomes a relay to anywhere but the Codex backend."""

from __future__ import annotations

from pathlib import Path

import httpx

from cliproxy.observe.logs import mask
from tests.fakes.codex_backend import FakeCodex, Reply, usage_body
from tests.serve_process import run_configured
from tests.server.management.conftest import ACCESS_A, CLIENT_KEY, CONFIG, SECRET, Managed, scanner

UPSTREAM_KEY = "sk-upstream-entry-7781aa"

USAGE_CALL = {"method": "GET", "header": {"Authorization": "Bearer $TOKEN$", "Chatgpt-Account-Id": "acc-1"}}


def test_the_accounts_page_reads_usage_through_api_call(managed: Managed) -> None:
    # given the listing names each account by its auth_index, as the Center expects
    index = managed.api.get("/auth-files").json()["files"][0]["auth_index"]
    managed.fake.script_usage(ACCESS_A, Reply(body=usage_body(short=42)))
    # when the Center reads that account's wham/usage through api-call with the $TOKEN$ placeholder
    url = managed.fake.url + "/backend-api/wham/usage"  # type: ignore[attr-defined]
    answer = managed.api.post("/api-call", json={**USAGE_CALL, "auth_index": index, "url": url})
    # then the backend saw the account's own token, and the Center gets status, headers and body text
    assert answer.status_code == 200
    shape = answer.json()
    assert shape["status_code"] == 200 and isinstance(shape["header"], dict)
    assert all(isinstance(values, list) for values in shape["header"].values())
    assert '"used_percent":42' in shape["body"].replace(" ", "")
    assert managed.fake.usage_requests()[-1].headers["authorization"] == f"Bearer {ACCESS_A}"


def test_api_call_refuses_any_host_but_the_codex_backend(managed: Managed) -> None:
    index = managed.api.get("/auth-files").json()["files"][0]["auth_index"]
    before = len(managed.fake.requests)
    for url in ("https://example.com/steal", "http://169.254.169.254/latest/meta-data",
                managed.fake.url.replace("127.0.0.1", "localhost") + "/backend-api/wham/usage"):  # type: ignore[attr-defined]
        refused = managed.api.post("/api-call", json={**USAGE_CALL, "auth_index": index, "url": url})
        assert refused.status_code == 403 and "Codex backend" in refused.json()["error"]
    assert len(managed.fake.requests) == before  # nothing was sent, least of all the token
    unknown = managed.api.post("/api-call", json={**USAGE_CALL, "auth_index": "codex-z.json",
                                                  "url": managed.fake.url + "/backend-api/wham/usage"})  # type: ignore[attr-defined]
    assert unknown.status_code == 404
    no_key = httpx.post(managed.proxy.url + "/v0/management/api-call", json=USAGE_CALL)
    assert no_key.status_code == 401


def test_reset_quota_ends_the_rest_by_auth_index(managed: Managed) -> None:
    managed.fake.script(ACCESS_A, Reply(status=429, body={"error": {
        "type": "usage_limit_reached", "message": "The usage limit has been reached", "resets_in_seconds": 3600}}))
    assert managed.chat().status_code == 429
    assert managed.api.post("/reset-quota", json={}).status_code == 400
    assert managed.api.post("/reset-quota", json={"auth_index": "codex-z.json"}).status_code == 404
    reset = managed.api.post("/reset-quota", json={"auth_index": "codex-a.json"})
    assert reset.json() == {"status": "ok", "auth_index": "codex-a.json", "models": []}
    assert managed.chat().status_code == 200


def test_model_definitions_version_and_log_cap(managed: Managed) -> None:
    models = managed.api.get("/model-definitions/codex").json()
    assert models["channel"] == "codex" and any(m["id"] == "gpt-5.4" for m in models["models"])
    assert {"id", "object", "owned_by", "display_name", "thinking"} <= set(models["models"][0])
    assert managed.api.get("/model-definitions/gemini").status_code == 400
    assert set(managed.api.get("/latest-version").json()) == {"latest-version"}
    assert managed.api.get("/logs-max-total-size-mb").json() == {"logs-max-total-size-mb": 0}
    assert managed.api.put("/logs-max-total-size-mb", json={"value": 50}).status_code == 200
    assert managed.api.get("/logs-max-total-size-mb").json() == {"logs-max-total-size-mb": 50}
    assert "logs-max-total-size-mb: 50" in managed.config_file.read_text()


def test_api_key_usage_counts_per_entry_without_its_key(managed: Managed) -> None:
    assert managed.api.get("/api-key-usage").json() == {}  # only a ChatGPT account here


def test_v8_paths_answer_where_the_shape_is_v0s(managed: Managed) -> None:
    v8 = managed.proxy.url + "/v8/management"
    files = managed.api.get(v8 + "/auth-files")
    assert files.status_code == 200 and files.json()["files"][0]["auth_index"] == "codex-a.json"
    assert managed.api.get(v8 + "/model-definitions/codex").status_code == 200
    assert managed.api.get(v8 + "/debug").status_code == 404  # v8 settings have another shape
    assert httpx.get(v8 + "/auth-files").status_code == 401  # behind the same secret


def test_api_key_usage_for_a_codex_api_key_entry(tmp_path: Path, fake: FakeCodex) -> None:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    entry = f'codex-api-key:\n  - api-key: "{UPSTREAM_KEY}"\n    base-url: "{upstream}"\n'
    with run_configured(tmp_path, upstream, CONFIG + entry) as proxy, scanner([UPSTREAM_KEY, SECRET]) as api:
        chat = httpx.post(proxy.v1 + "/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                          json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200
        usage = api.get(proxy.url + "/v0/management/api-key-usage", headers={"authorization": f"Bearer {SECRET}"})
    assert usage.json() == {"codex": {f"{upstream}|{mask(UPSTREAM_KEY)}": {"success": 1, "failed": 0,
                                                                            "recent_requests": []}}}
