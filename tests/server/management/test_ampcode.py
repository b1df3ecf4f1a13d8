"""The ``ampcode`` section through the management API: written to the file, applied, secrets masked."""

from __future__ import annotations

from cliproxy.observe.logs import mask
from tests.server.management.conftest import Managed

AMP_KEY = "amp-upstream-secret-77c2"


def test_ampcode_settings_are_written_applied_and_never_shown_in_clear(managed: Managed) -> None:
    api = managed.api
    managed.secrets.append(AMP_KEY)  # the scanning client fails any answer that shows it
    base = managed.proxy.url + "/v0/management/ampcode"
    assert api.put(base + "/upstream-url", json={"value": " https://ampcode.com/ "}).json() == {"status": "ok"}
    assert api.put(base + "/upstream-api-key", json={"value": AMP_KEY}).status_code == 200
    assert api.get(base + "/upstream-api-key").json() == {"upstream-api-key": mask(AMP_KEY), "set": True}
    assert api.put(base + "/fallback", json={"value": False}).status_code == 200
    assert api.put(base + "/fallback", json={"value": "no"}).status_code == 400
    mappings = [{"from": "claude-opus-4-6", "to": "gpt-5.4"}]
    assert api.put(base + "/model-mappings", json={"value": mappings}).status_code == 200
    assert api.patch(base + "/model-mappings", json={"value": {"from": "claude-opus-4-6", "to": "gpt-5.5"}}).json() \
        == {"status": "ok"}
    keys = [{"upstream-api-key": AMP_KEY, "api-keys": ["k9"]}]
    assert api.put(base + "/upstream-api-keys", json={"value": keys}).status_code == 200

    section = managed.proxy.services.holder.current.config.ampcode
    assert section.upstream_url == "https://ampcode.com" and section.upstream_api_key == AMP_KEY
    assert section.fallback is False and section.model_mappings[0].to == "gpt-5.5"
    whole = api.get(base).json()["ampcode"]
    assert whole["upstream-api-keys"] == [{"upstream-api-key": mask(AMP_KEY), "api-keys": [mask("k9")]}]

    assert api.request("DELETE", base + "/upstream-api-keys", json={"value": [mask(AMP_KEY)]}).status_code == 200
    assert api.delete(base + "/model-mappings").status_code == 200
    assert api.delete(base + "/upstream-api-key").status_code == 200
    assert api.get(base + "/upstream-api-key").json() == {"upstream-api-key": "", "set": False}
    section = managed.proxy.services.holder.current.config.ampcode
    assert section.upstream_api_keys == () and section.model_mappings == ()
