"""``POST /v0/management/auth-files/reset``: the management API ends an account's rest by hand."""

from __future__ import annotations

from tests.fakes.codex_backend import Reply
from tests.server.management.conftest import ACCESS_A, Managed


def test_reset_returns_a_resting_account_at_once(managed: Managed) -> None:
    # given the only account spent its quota for an hour
    managed.fake.script(ACCESS_A, Reply(status=429, body={"error": {
        "type": "usage_limit_reached", "message": "The usage limit has been reached", "resets_in_seconds": 3600}}))
    assert managed.chat().status_code == 429
    assert managed.api.get("/auth-files").json()["files"][0]["pool_state"] == "quota"
    # when the user resets it (an unknown name is refused)
    unknown = managed.api.post("/auth-files/reset", json={"name": "codex-z.json"})
    reset = managed.api.post("/auth-files/reset", json={"name": "codex-a.json"})
    # then it serves again at once
    assert unknown.status_code == 400
    assert reset.status_code == 200 and reset.json() == {"status": "ok", "reset": ["codex-a.json"]}
    assert managed.api.get("/auth-files").json()["files"][0]["pool_state"] == "available"
    assert managed.chat().status_code == 200


def test_reset_without_a_name_resets_every_resting_account(managed: Managed) -> None:
    assert managed.api.post("/auth-files/reset").json() == {"status": "ok", "reset": []}  # nothing rests
    managed.fake.script(ACCESS_A, Reply(status=403, body={"detail": "Forbidden"}))
    assert managed.chat().status_code == 403
    assert managed.api.post("/auth-files/reset").json() == {"status": "ok", "reset": ["codex-a.json"]}
    assert managed.chat().status_code == 200
