"""Account files through the management API: listed without tokens, uploaded, edited, disabled and
deleted, each change reaching the pool through the reload path."""

from __future__ import annotations

import json

from tests.helpers import access_token, id_token
from tests.server.management.conftest import Managed


def account_b(managed: Managed) -> dict[str, object]:
    token = access_token("access-b-0a1b2c3d4e5f", "acc-2")
    record: dict[str, object] = {"type": "codex", "email": "b@example.com", "account_id": "acc-2",
              "id_token": id_token("b@example.com", "acc-2"), "access_token": token,
              "refresh_token": "rt_refresh_token_b_99887766", "expired": "2099-01-01T00:00:00Z"}
    managed.secrets.extend([token, str(record["refresh_token"]), str(record["id_token"])])
    return record


def last_token(managed: Managed) -> str:
    return managed.fake.inference_requests()[-1].headers["authorization"][7:]


def test_listing_shows_state_without_tokens(managed: Managed) -> None:
    assert managed.chat().status_code == 200
    files = managed.api.get("/auth-files").json()["files"]
    assert [f["name"] for f in files] == ["codex-a.json"]
    entry = files[0]
    assert entry["email"] == "a@example.com" and entry["status"] == "active" and entry["disabled"] is False
    assert entry["pool_state"] == "available" and entry["requests"] == 1 and "access_token" not in entry
    download = managed.api.get("/auth-files/download", params={"name": "codex-a.json"})
    assert download.status_code == 200 and download.json()["access_token"].endswith("…" + download.json()
                                                                                      ["access_token"][-4:])
    models = managed.api.get("/auth-files/models", params={"name": "codex-a.json"}).json()["models"]
    assert "gpt-5.4" in [m["id"] for m in models]
    assert managed.api.get("/auth-files/models", params={"name": "codex-z.json"}).status_code == 404
    assert managed.api.get("/auth-files/download", params={"name": "../config.yaml"}).status_code == 400


def test_upload_raw_and_multipart_then_route_to_the_new_account(managed: Managed) -> None:
    record = account_b(managed)
    uploaded = managed.api.post("/auth-files", params={"name": "codex-b.json"}, content=json.dumps(record))
    assert uploaded.json() == {"status": "ok", "files": ["codex-b.json"]}
    assert (managed.tmp_path / "auth" / "codex-b.json").stat().st_mode & 0o777 == 0o600
    # Only b is left to serve once a is disabled.
    assert managed.api.patch("/auth-files/status", json={"name": "codex-a.json", "disabled": True}).status_code == 200
    assert managed.chat().status_code == 200 and last_token(managed) == record["access_token"]
    listed = {f["name"]: f for f in managed.api.get("/auth-files").json()["files"]}
    assert listed["codex-a.json"]["disabled"] is True

    c = {**record, "email": "c@example.com"}
    form = managed.api.post("/auth-files", files={"file": ("codex-c.json", json.dumps(c), "application/json")})
    assert form.json()["files"] == ["codex-c.json"]
    assert "codex-c.json" in [cr.id for cr in managed.proxy.services.holder.current.credentials]

    for bad in (b"not json", json.dumps({"type": "gemini"}).encode(), json.dumps({"type": "codex"}).encode()):
        assert managed.api.post("/auth-files", params={"name": "codex-x.json"}, content=bad).status_code == 400
    assert managed.api.post("/auth-files", params={"name": "x.txt"}, content=json.dumps(record)).status_code == 400


def test_fields_are_edited_and_files_deleted(managed: Managed) -> None:
    api = managed.api
    assert api.patch("/auth-files/fields", json={"name": "codex-a.json", "priority": 7, "note": "main"}).status_code \
        == 200
    saved = json.loads((managed.tmp_path / "auth" / "codex-a.json").read_text())
    assert (saved["priority"], saved["note"]) == (7, "main")
    assert managed.proxy.services.holder.current.credentials[0].priority == 7
    assert api.patch("/auth-files/fields", json={"name": "codex-a.json", "access_token": "x"}).status_code == 400
    assert api.patch("/auth-files/fields", json={"name": "codex-a.json"}).status_code == 400
    assert api.patch("/auth-files/status", json={"name": "codex-a.json", "disabled": "yes"}).status_code == 400
    assert api.patch("/auth-files/status", json={"name": "codex-q.json", "disabled": True}).status_code == 404
    assert api.patch("/auth-files/status", json=["codex-a.json"]).status_code == 400

    assert api.delete("/auth-files", params={"name": "codex-a.json"}).json() == {"status": "ok", "deleted": 1}
    assert api.delete("/auth-files", params={"name": "codex-a.json"}).status_code == 404
    assert api.delete("/auth-files").status_code == 400
    assert managed.chat().status_code == 503
    api.post("/auth-files", params={"name": "codex-b.json"}, content=json.dumps(account_b(managed)))
    assert api.delete("/auth-files", params={"all": "true"}).json() == {"status": "ok", "deleted": 1}
    assert managed.proxy.services.holder.current.credentials == ()
