"""What the management API shows masked it never gives away: an upstream key does not follow its
entry to a new ``base-url`` unless it is sent in full, the accounts' tokens are not pointed at a new
backend or issuer, and a proxy password is masked in every listing (and kept when sent back masked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cliproxy.observe.logs import mask
from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import running_fake
from tests.server.management.conftest import Managed

UPSTREAM_KEY = "ck-upstream-secret-4242"
PROXY_PASSWORD = "pw-proxy-secret-8086"


@pytest.fixture
def thief() -> Iterator[FakeCodex]:
    """A host the caller would like the key sent to."""
    with running_fake() as backend:
        yield backend


@pytest.fixture
def keyed(managed: Managed) -> Managed:
    """The managed proxy with one ``codex-api-key`` entry; its key counts as a secret of the scan."""
    managed.secrets.append(UPSTREAM_KEY)
    base = managed.fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    assert managed.api.put("/codex-api-key", json=[{"api-key": UPSTREAM_KEY, "base-url": base}]).status_code == 200
    return managed


def refused_with(response_status: int, text: str, *words: str) -> bool:
    return response_status == 409 and all(word in text for word in words)


def test_moving_an_entry_with_its_key_masked_is_refused_on_every_way_in(keyed: Managed, thief: FakeCodex) -> None:
    api, stolen = keyed.api, thief.url + "/backend-api/codex"  # type: ignore[attr-defined]
    before = keyed.config_file.read_text()
    patched = api.patch("/codex-api-key", json={"index": 0, "value": {"base-url": stolen}})
    masked_patch = api.patch("/codex-api-key", json={"index": 0, "value": {"base-url": stolen,
                                                                            "api-key": mask(UPSTREAM_KEY)}})
    put = api.put("/codex-api-key", json=[{"api-key": mask(UPSTREAM_KEY), "base-url": stolen}])
    yaml_text = api.get("/config.yaml").text
    base = keyed.fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    uploaded = api.put("/config.yaml", content=yaml_text.replace(f"base-url: {base}", f"base-url: {stolen}").encode())
    for answer in (patched, masked_patch, put, uploaded):
        assert refused_with(answer.status_code, answer.text, "codex-api-key entry 0", "api-key in full"), answer.text
    assert keyed.config_file.read_text() == before
    assert keyed.chat(model="gpt-5.4").status_code == 200
    assert thief.requests == []


def test_moving_an_entry_with_its_key_in_full_is_allowed(keyed: Managed, thief: FakeCodex) -> None:
    stolen = thief.url + "/backend-api/codex"  # type: ignore[attr-defined]
    moved = keyed.api.patch("/codex-api-key", json={"index": 0, "value": {"base-url": stolen, "api-key": UPSTREAM_KEY}})
    assert moved.status_code == 200
    entry = keyed.api.get("/codex-api-key").json()["codex-api-key"][0]
    assert entry["base-url"] == stolen and entry["api-key"] == mask(UPSTREAM_KEY)
    # the owner's edits that keep the destination still take the masked key
    assert keyed.api.patch("/codex-api-key", json={"index": 0, "value": {"prefix": "team"}}).status_code == 200
    assert keyed.api.put("/codex-api-key", json=[{"api-key": mask(UPSTREAM_KEY), "base-url": stolen,
                                                  "priority": 3}]).status_code == 200
    assert UPSTREAM_KEY in keyed.config_file.read_text()


@pytest.mark.parametrize("key", ["codex-base-url", "oauth-issuer"])
def test_where_the_accounts_tokens_go_is_not_changed_through_the_management_api(
        managed: Managed, thief: FakeCodex, key: str) -> None:
    stolen = thief.url + "/backend-api/codex"  # type: ignore[attr-defined]
    before = managed.config_file.read_text()
    text = managed.api.get("/config.yaml").text
    edited = "\n".join(line for line in text.splitlines() if not line.startswith(key + ":")) + f"\n{key}: {stolen}\n"
    answer = managed.api.put("/config.yaml", content=edited.encode())
    assert refused_with(answer.status_code, answer.text, key, "edit the config file on the server"), answer.text
    assert managed.config_file.read_text() == before
    assert managed.chat().status_code == 200
    assert thief.requests == []


def test_a_proxy_password_is_masked_in_every_listing_and_kept_when_sent_back(keyed: Managed) -> None:
    api = keyed.api
    keyed.secrets.append(PROXY_PASSWORD)
    proxy_url = f"socks5://me:{PROXY_PASSWORD}@127.0.0.1:1080"
    listed = "socks5://me:…@127.0.0.1:1080"
    assert api.put("/proxy-url", json={"value": proxy_url}).status_code == 200
    entry = api.get("/codex-api-key").json()["codex-api-key"][0]
    assert api.patch("/codex-api-key", json={"index": 0, "value": {"proxy-url": proxy_url}}).status_code == 200
    assert api.patch("/auth-files/fields", json={"name": "codex-a.json", "proxy_url": proxy_url}).status_code == 200

    assert api.get("/proxy-url").json() == {"proxy-url": listed}
    assert api.get("/config").json()["proxy-url"] == listed
    assert api.get("/codex-api-key").json()["codex-api-key"][0]["proxy-url"] == listed
    assert api.get("/auth-files/download", params={"name": "codex-a.json"}).json()["proxy_url"] == listed
    yaml_text = api.get("/config.yaml").text
    assert listed in yaml_text

    # sent back as listed, the password stays; nothing is saved masked
    assert api.put("/config.yaml", content=yaml_text.encode()).status_code == 200
    assert api.put("/proxy-url", json={"value": listed}).status_code == 200
    assert api.patch("/auth-files/fields", json={"name": "codex-a.json", "proxy_url": listed}).status_code == 200
    entries = api.get("/codex-api-key").json()["codex-api-key"]
    assert api.put("/codex-api-key", json=entries).status_code == 200
    assert api.patch("/codex-api-key", json={"index": 0, "value": {"proxy-url": listed}}).status_code == 200
    assert keyed.config_file.read_text().count(PROXY_PASSWORD) == 2  # the top-level one and the entry's
    assert PROXY_PASSWORD in (keyed.tmp_path / "auth" / "codex-a.json").read_text()
    assert entry["api-key"] == mask(UPSTREAM_KEY)


def test_the_redis_password_in_state_url_is_masked_and_kept_when_sent_back(managed: Managed) -> None:
    api, password = managed.api, "redis-secret-7319"
    managed.secrets.append(password)
    yaml_text = api.get("/config.yaml").text
    written = yaml_text + f"state:\n  url: redis://cache:{password}@10.0.0.5:6379/0\n"
    assert api.put("/config.yaml", content=written.encode()).status_code == 200
    assert api.get("/config").json()["state"]["url"] == "redis://cache:…@10.0.0.5:6379/0"
    listed = api.get("/config.yaml").text
    assert "redis://cache:…@10.0.0.5:6379/0" in listed
    assert api.put("/config.yaml", content=listed.encode()).status_code == 200  # sent back as listed
    assert password in managed.config_file.read_text()


def test_the_accounts_key_is_masked_and_kept_when_sent_back(managed: Managed) -> None:
    api, key = managed.api, "k" * 43 + "="
    managed.secrets.append(key)
    written = api.get("/config.yaml").text + f"state:\n  accounts-key: {key}\n"
    assert api.put("/config.yaml", content=written.encode()).status_code == 200
    assert api.get("/config").json()["state"]["accounts-key"] == mask(key)
    listed = api.get("/config.yaml").text
    assert key not in listed and mask(key) in listed
    assert api.put("/config.yaml", content=listed.encode()).status_code == 200  # sent back as listed
    assert key in managed.config_file.read_text()
