"""Settings through the management API: each write lands in the config file (comments kept), comes
back through the reload path, and changes what the proxy does; secrets are only ever shown masked."""

from __future__ import annotations

import httpx

from cliproxy.observe.logs import mask
from tests.server.management.conftest import CLIENT_KEY, Managed


def test_scalar_settings_read_write_and_refuse_bad_bodies(managed: Managed) -> None:
    api = managed.api
    assert api.get("/request-retry").json() == {"request-retry": 0}
    assert api.put("/request-retry", json={"value": 3}).json() == {"status": "ok"}
    assert api.get("/request-retry").json() == {"request-retry": 3}
    assert api.patch("/debug", json={"value": True}).status_code == 200
    assert api.get("/debug").json() == {"debug": True}
    assert api.put("/routing/strategy", json={"value": "fill-first"}).status_code == 200
    assert api.get("/routing/strategy").json() == {"strategy": "fill-first"}
    assert managed.proxy.services.runner.pool.strategy == "fill-first"
    assert api.put("/proxy-url", json={"value": "socks5://127.0.0.1:1080"}).status_code == 200
    assert api.get("/proxy-url").json() == {"proxy-url": "socks5://127.0.0.1:1080"}
    assert api.delete("/proxy-url").status_code == 200 and api.get("/proxy-url").json() == {"proxy-url": ""}
    assert api.put("/usage-statistics-enabled", json={"value": False}).status_code == 200
    assert api.get("/usage-statistics-enabled").json() == {"usage-statistics-enabled": False}

    for path, body in [("/request-retry", {"value": "3"}), ("/request-retry", {"value": -1}),
                       ("/debug", {"value": 1}), ("/debug", {}), ("/routing/strategy", {"value": "zigzag"})]:
        response = api.put(path, json=body)
        assert response.status_code == 400 and response.json()["error"], path
    assert api.put("/debug", content=b"{not json").status_code == 400
    text = managed.config_file.read_text()
    assert "request-retry: 3" in text and "# the laptop" in text and "# the management password" in text


def test_client_keys_are_replaced_edited_and_deleted_by_value_mask_or_index(managed: Managed) -> None:
    api = managed.api
    assert api.get("/api-keys").json() == {"api-keys": [mask(CLIENT_KEY)]}
    assert api.put("/api-keys", json=["sk-new-one-0001", "sk-new-two-0002"]).status_code == 200
    assert managed.chat("sk-new-one-0001").status_code == 200
    assert managed.chat(CLIENT_KEY).status_code == 401

    assert api.patch("/api-keys", json={"old": mask("sk-new-one-0001"), "new": "sk-new-three-3"}).status_code == 200
    assert api.patch("/api-keys", json={"index": 1, "value": "sk-new-four-04"}).status_code == 200
    assert api.get("/api-keys").json() == {"api-keys": [mask("sk-new-three-3"), mask("sk-new-four-04")]}
    assert api.delete("/api-keys", params={"value": "sk-new-three-3"}).status_code == 200
    assert api.delete("/api-keys", params={"index": 0}).status_code == 200
    assert api.get("/api-keys").json() == {"api-keys": []}
    assert managed.chat("no-key-needed-now").status_code == 200  # an empty list opens the proxy

    assert api.patch("/api-keys", json={}).json() == {"error": "missing fields"}
    assert api.delete("/api-keys").json() == {"error": "missing index or value"}
    assert api.put("/api-keys", json={"items": "x"}).status_code == 400
    assert api.put("/api-keys", json=[1, 2]).status_code == 400


def test_codex_api_key_entries(managed: Managed) -> None:
    api = managed.api
    base = managed.fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    managed.secrets.append("ck-upstream-secret-77")
    assert api.put("/codex-api-key", json=[{"api-key": "ck-upstream-secret-77", "base-url": base}]).status_code == 200
    entries = api.get("/codex-api-key").json()["codex-api-key"]
    assert entries[0]["api-key"] == mask("ck-upstream-secret-77") and entries[0]["base-url"] == base
    assert api.patch("/codex-api-key", json={"index": 0, "value": {"prefix": "team"}}).status_code == 200
    assert api.patch("/codex-api-key", json={"match": mask("ck-upstream-secret-77"),
                                             "value": {"priority": 5}}).status_code == 200
    entry = api.get("/codex-api-key").json()["codex-api-key"][0]
    assert (entry["prefix"], entry["priority"]) == ("team", 5)
    assert "ck-upstream-secret-77" in managed.config_file.read_text()  # the masked form was not saved
    ids = [c.id for c in managed.proxy.services.holder.current.credentials]
    assert "api-key:0" in ids

    assert api.patch("/codex-api-key", json={"index": 9, "value": {}}).status_code == 404
    assert api.put("/codex-api-key", json=[{"base-url": base}]).status_code == 400
    assert api.delete("/codex-api-key").status_code == 400
    assert api.delete("/codex-api-key", params={"api-key": "ck-upstream-secret-77"}).status_code == 200
    assert api.get("/codex-api-key").json() == {"codex-api-key": []}


def test_model_aliases_and_exclusions_per_channel(managed: Managed) -> None:
    api = managed.api
    aliases = {"codex": [{"name": "gpt-5.4", "alias": "house-model"}]}
    assert api.put("/oauth-model-alias", json=aliases).status_code == 200
    assert api.get("/oauth-model-alias").json()["oauth-model-alias"]["codex"][0]["alias"] == "house-model"
    models = httpx.get(managed.proxy.v1 + "/models", headers={"authorization": f"Bearer {CLIENT_KEY}"}).json()
    assert "house-model" in [m["id"] for m in models["data"]]
    assert api.patch("/oauth-model-alias", json={"channel": "codex", "aliases": []}).status_code == 200
    assert api.get("/oauth-model-alias").json() == {"oauth-model-alias": {}}
    assert api.put("/oauth-model-alias", json=[]).status_code == 400

    assert api.put("/oauth-excluded-models", json={"codex": ["gpt-5.4-mini"]}).status_code == 200
    assert api.get("/oauth-excluded-models").json() == {"oauth-excluded-models": {"codex": ["gpt-5.4-mini"]}}
    assert managed.chat(model="gpt-5.4-mini").status_code == 404
    assert api.patch("/oauth-excluded-models", json={}).status_code == 400
    assert api.delete("/oauth-excluded-models", params={"channel": "codex"}).status_code == 200
    assert api.delete("/oauth-excluded-models", params={"channel": "codex"}).status_code == 404
    assert managed.chat(model="gpt-5.4-mini").status_code == 200


def test_whole_config_as_json_and_as_yaml_round_trip(managed: Managed) -> None:
    api = managed.api
    config = api.get("/config").json()
    assert config["api-keys"] == [mask(CLIENT_KEY)] and config["remote-management"]["secret-key"].startswith("$2b")
    yaml_text = api.get("/config.yaml").text
    assert "# the laptop" in yaml_text and mask(CLIENT_KEY) in yaml_text
    edited = yaml_text.replace("api-keys:", "request-retry: 2\napi-keys:")
    assert api.put("/config.yaml", content=edited.encode()).json() == {"status": "ok"}
    assert managed.proxy.services.holder.current.config.request_retry == 2
    assert managed.chat(CLIENT_KEY).status_code == 200  # the masked key was put back, not saved masked
    assert api.put("/config.yaml", content=b"api-keys: [unclosed\n").status_code == 400
    assert api.put("/config.yaml", content=b"request-retry: many\n").status_code == 400
    assert managed.proxy.services.holder.current.config.request_retry == 2
