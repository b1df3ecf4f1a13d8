"""Client keys managed over the API: created keys are shown once, hashed at rest, never listed,
and work (or stop working) at once, without a restart."""

from __future__ import annotations

import hashlib

from tests.server.management.conftest import Managed

LIMITS = [{"requests": 1, "per": "day", "window": "calendar"}]


def test_a_created_key_is_hashed_at_rest_and_works_at_once(managed: Managed) -> None:
    created = managed.api.post("/client-keys", json={"name": "ci-bot", "models": ["gpt-5.4"], "limits": LIMITS})
    assert created.status_code == 201
    key = created.json()["key"]
    managed.secrets.append(key)  # from here on, no answer may show it
    text = managed.config_file.read_text()
    assert key not in text and hashlib.sha256(key.encode()).hexdigest() in text
    assert "# the management password" in text  # the user's comments survive
    assert managed.chat(key).status_code == 200
    assert managed.chat(key).status_code == 429
    listed = managed.api.get("/client-keys").json()["client-keys"]
    assert [(k["name"], k["stored"], k["limits"][0]["used"]) for k in listed] == [("ci-bot", "sha256", 1)]
    assert managed.api.get("/config.yaml").status_code == 200  # scanned: the hash file shows no key either


def test_reset_update_and_delete_apply_without_a_restart(managed: Managed) -> None:
    key = managed.api.post("/client-keys", json={"name": "agent", "limits": LIMITS}).json()["key"]
    managed.secrets.append(key)
    assert managed.chat(key).status_code == 200
    assert managed.chat(key).status_code == 429
    assert managed.api.post("/client-keys/agent/reset").status_code == 200
    assert managed.chat(key).status_code == 200
    assert managed.api.patch("/client-keys/agent", json={"models": ["gpt-5.5"]}).status_code == 200
    refused = managed.chat(key)
    assert refused.status_code == 403 and "gpt-5.5" in refused.json()["error"]["message"]
    assert managed.api.delete("/client-keys/agent").status_code == 200
    assert managed.chat(key).status_code == 401


def test_a_rotated_key_replaces_the_old_one(managed: Managed) -> None:
    old = managed.api.post("/client-keys", json={"name": "laptop"}).json()["key"]
    new = managed.api.patch("/client-keys/laptop", json={"rotate": True}).json()["key"]
    managed.secrets += [old, new]
    assert managed.chat(old).status_code == 401 and managed.chat(new).status_code == 200


def test_names_are_unique_and_fields_are_checked(managed: Managed) -> None:
    assert managed.api.post("/client-keys", json={"name": "dup"}).status_code == 201
    assert managed.api.post("/client-keys", json={"name": "DUP"}).status_code == 409
    assert managed.api.post("/client-keys", json={"name": "x", "key": "mine"}).status_code == 400
    bad = managed.api.post("/client-keys", json={"name": "y", "limits": [{"requests": 1, "per": "fortnight"}]})
    assert bad.status_code == 400 and "per" in bad.json()["error"]
    assert managed.api.delete("/client-keys/nobody").status_code == 404
