"""The dashboard in a real Chromium, against a real ``cliproxy serve`` with the fake Codex backend
and the fake issuer: log in, watch accounts rest and come back, add one by device code, see requests
in Live and Usage, edit the config, see the shared state and the live instances (on a real Redis that
goes away). Screenshots of each page land in ``artifacts/dashboard/``."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex, Reply, usage_body
from tests.fakes.issuer import FakeIssuer, running_issuer
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account
from tests.serve_process import Server, serve, wait_for

CHROMIUM = Path(os.environ.get("CLIPROXY_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package (CI's .ci/run does) "
                "to run the dashboard's browser tests", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the `test` extra) drives the browser")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECRET = "dash-e2e-secret-7Kp"
CLIENT_KEY = "sk-dash-client-1"
WAIT_MS = 20_000
SPENT = Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                          "resets_in_seconds": 3600}})


def _config(issuer: FakeIssuer) -> str:
    return f"""# dashboard end-to-end
remote-management:
  secret-key: "{SECRET}"
api-keys:
  - {CLIENT_KEY}
oauth-issuer: {issuer.url}
quota:
  poll-interval: 600
models:
  discovery: false
"""


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, fake: FakeCodex, issuer: FakeIssuer) -> Iterator[Server]:
    now = int(time.time())
    fake.usage_default = Reply(body=usage_body(short=25, long=60, reset_at=now - 17000))
    write_account(tmp_path / "auth", "alice", "tok-a", "acc-1", plan="plus")
    write_account(tmp_path / "auth", "bob", "tok-b", "acc-2", plan="pro")
    with serve(tmp_path, fake.url + "/backend-api/codex", _config(issuer)) as running:  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS, headless=True)
        yield launched
        launched.close()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def chat(server: Server, n: int = 1) -> list[int]:
    return [server.chat(CLIENT_KEY).status_code for _ in range(n)]


def cli_usage_totals(server: Server) -> dict[str, Any]:
    """What `cliproxy usage --json` says, run as a user would."""
    command = [sys.executable, "-m", "cliproxy", "usage", "--json", "--config", str(server.config)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "HOME": str(server.config.parent)})
    totals: dict[str, Any] = json.loads(done.stdout)["totals"]
    return totals


def card(page: Any, name: str) -> Any:
    return page.locator(f'article[data-account="{name}"]')


def log_in(page: Any, server: Server) -> None:
    page.goto(server.url + "/dashboard")
    page.get_by_label("Management secret").fill(SECRET)
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.locator("article.account")).to_have_count(2, timeout=WAIT_MS)


def test_a_wrong_secret_is_refused_in_the_page(server: Server, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server.url + "/management.html")
    page.get_by_label("Management secret").fill("wrong-secret")
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.locator("#login-error")).to_have_text("Wrong secret.", timeout=WAIT_MS)
    assert page.locator("#nav").is_hidden()
    shoot(page, "login-refused")


def test_accounts_rest_and_come_back_without_a_reload(server: Server, browser: Any, fake: FakeCodex) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, server)
    alice = card(page, "codex-alice.json")
    sync_api.expect(alice.get_by_text("5-hour window: 25 % used")).to_be_visible(timeout=WAIT_MS)
    sync_api.expect(alice.get_by_text("Weekly window: 60 % used")).to_be_visible()
    sync_api.expect(alice).to_contain_text("resets in")
    assert "alice@" not in alice.inner_text()  # the e-mail is masked: a…e@example.com
    page.evaluate("window.notReloaded = true")

    fake.script("tok-a", SPENT)
    assert chat(server, 2) == [200, 200]  # alice's 429 fails over to bob: the client sees nothing
    sync_api.expect(alice.locator(".badge")).to_have_text("quota spent", timeout=WAIT_MS)
    sync_api.expect(alice).to_contain_text("a quota window is spent")
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "accounts-resting")

    alice.get_by_role("button", name="Clear the rest of").click()
    sync_api.expect(alice.locator(".badge")).to_have_text("available", timeout=WAIT_MS)
    assert chat(server, 2) == [200, 200]
    shoot(page, "accounts")


def test_an_account_is_added_by_device_code(server: Server, browser: Any, issuer: FakeIssuer) -> None:
    page = browser.new_page()
    log_in(page, server)
    page.get_by_role("button", name="Add account (device code)").click()
    code = page.locator("#device-code")
    sync_api.expect(code).not_to_be_empty(timeout=WAIT_MS)
    sync_api.expect(page.get_by_role("link", name=f"{issuer.url}/codex/device")).to_be_visible()
    shoot(page, "accounts-device-code")
    issuer.approve(code.inner_text())
    sync_api.expect(page.get_by_text("Account added.")).to_be_visible(timeout=WAIT_MS)
    sync_api.expect(page.locator("article.account")).to_have_count(3, timeout=WAIT_MS)
    assert len(list(server.auth_dir.glob("*.json"))) == 3


def test_requests_show_in_live_and_usage_with_the_cli_totals(server: Server, browser: Any, fake: FakeCodex) -> None:
    assert chat(server, 3) == [200, 200, 200]
    fake.default = Reply(status=400, body={"error": {"message": "Invalid value for 'input'.",
                                                     "type": "invalid_request_error"}})
    assert chat(server) == [400]
    fake.default = Reply()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, server)

    page.get_by_role("link", name="Live").click()
    finished = page.locator("#live-finished tbody tr")
    sync_api.expect(finished).to_have_count(4, timeout=WAIT_MS)
    sync_api.expect(finished.first).to_contain_text("400")
    error_link = page.locator("#live-errors a").first
    sync_api.expect(error_link).to_be_visible()
    log = page.context.request.get(server.url + "/dashboard/" + error_link.get_attribute("href"))
    assert log.status == 200 and "Invalid value for 'input'." in log.text()
    assert CLIENT_KEY not in log.text()
    shoot(page, "live")

    page.get_by_role("link", name="Usage").click()
    sync_api.expect(page.locator("#total-requests")).to_have_text("4", timeout=WAIT_MS)
    cli = cli_usage_totals(server)
    assert (cli["requests"], cli["failed"], cli["total_tokens"], cli["input_tokens"]) == (4, 1, 45, 30)
    sync_api.expect(page.locator("#total-tokens")).to_have_text(f"{cli['total_tokens']:,}")
    sync_api.expect(page.locator("#total-input")).to_have_text(f"{cli['input_tokens']:,}")
    sync_api.expect(page.locator("#total-cached")).to_have_text(f"{cli['cached_tokens']:,}")
    sync_api.expect(page.locator("#total-output")).to_have_text(f"{cli['output_tokens']:,}")
    sync_api.expect(page.locator("#total-failure")).to_have_text("25.0 %")
    shoot(page, "usage")


def bars(page: Any) -> list[tuple[str, str]]:
    """The requests chart as (bar label, tooltips): one entry per bar drawn, empty or not."""
    found: list[tuple[str, str]] = page.locator("#chart-requests g.bar").evaluate_all(
        "gs => gs.map(g => [g.dataset.label, [...g.querySelectorAll('title')].map(t => t.textContent).join('|')])")
    return found


def hour_label(instant: float, zone: ZoneInfo) -> str:
    """The bar a request at ``instant`` lands in: the server's hour (this machine's clock) holding it, on
    ``zone``'s clock, floored to the full hour there."""
    server_hour = datetime.fromtimestamp(instant).astimezone().replace(minute=0, second=0, microsecond=0)
    return server_hour.astimezone(zone).strftime("%Y-%m-%d %H:00")


def test_24_hours_are_drawn_per_hour_and_7_days_per_day(server: Server, browser: Any) -> None:
    browser_zone = ZoneInfo("Asia/Kolkata")  # half an hour off any whole-hour server clock
    before = time.time()
    assert chat(server, 2) == [200, 200]
    after = time.time()
    page = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=browser_zone.key).new_page()
    log_in(page, server)
    page.get_by_role("link", name="Usage").click()
    sync_api.expect(page.locator("#chart-requests g.bar")).to_have_count(7, timeout=WAIT_MS)
    days = bars(page)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", label) for label, _ in days)
    assert days[-1][0] in {datetime.fromtimestamp(t, browser_zone).strftime("%Y-%m-%d") for t in (before, time.time())}

    opened = time.time()
    page.get_by_label("24 h").check()
    sync_api.expect(page.locator("#chart-requests-title")).to_have_text("Requests and failures per hour",
                                                                       timeout=WAIT_MS)
    sync_api.expect(page.locator("#chart-requests g.bar")).to_have_count(24)
    hours = bars(page)
    starts = [datetime.strptime(label, "%Y-%m-%d %H:%M") for label, _ in hours]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(starts))
    now = {datetime.fromtimestamp(t, browser_zone).strftime("%Y-%m-%d %H:00") for t in (opened, time.time())}
    assert hours[-1][0] in now  # the current hour, last
    drawn = {label: tips for label, tips in hours if tips}
    assert set(drawn) <= {hour_label(before, browser_zone), hour_label(after, browser_zone)}
    assert sum(int(n) for tips in drawn.values() for n in re.findall(r"Succeeded: (\d+)", tips)) == 2
    ticks = page.locator("#chart-requests svg > text").all_text_contents()
    assert [t for t in ticks if re.fullmatch(r"\d\d:00", t)] == [s.strftime("%H:00") for s in starts[1::2]]
    sync_api.expect(page.get_by_role("heading", name="By hour")).to_be_visible()
    sync_api.expect(page.locator("#total-requests")).to_have_text("2")
    shoot(page, "usage-24h")


def test_a_config_edit_is_checked_then_applied_live(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, server)
    page.get_by_role("link", name="Config").click()
    editor = page.get_by_label("Config file (YAML)")
    wait_for(lambda: "remote-management" in editor.input_value(), "the config to load")
    original = editor.input_value()
    assert SECRET not in original and CLIENT_KEY not in original  # masked

    editor.fill(original + "request-log: maybe\n")
    page.get_by_role("button", name="Check").click()
    sync_api.expect(page.locator("#config-result")).to_contain_text("request-log: Expected `bool`", timeout=WAIT_MS)
    assert page.get_by_role("button", name="Save").is_disabled()
    shoot(page, "config-refused")

    editor.fill(original + "request-log: true\n")
    page.get_by_role("button", name="Check").click()
    sync_api.expect(page.locator("#config-diff")).to_contain_text("+request-log: true", timeout=WAIT_MS)
    shoot(page, "config")
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.locator("#config-result")).to_contain_text("Saved", timeout=WAIT_MS)
    running = httpx.get(server.url + "/v0/management/config", headers={"authorization": f"Bearer {SECRET}"}).json()
    assert running["request-log"] is True
    text = server.config.read_text()
    assert "# dashboard end-to-end" in text and CLIENT_KEY in text  # comments kept, masked key put back


def test_client_set_up_and_small_dark_screens(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, server)
    page.get_by_role("link", name="Client set-up").click()
    page.get_by_label("Client key to put in the snippets").fill(CLIENT_KEY)
    codex = page.locator("section.snippet", has=page.get_by_role("heading", name="Codex CLI"))
    sync_api.expect(codex).to_contain_text(f'base_url = "{server.url}/v1"')
    sync_api.expect(page.locator("section.snippet", has=page.get_by_role("heading", name="Claude Code"))) \
        .to_contain_text(f"ANTHROPIC_API_KEY={CLIENT_KEY}")
    shoot(page, "setup")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
    small = phone.new_page()
    log_in(small, server)
    sync_api.expect(small.get_by_text("5-hour window").first).to_be_visible(timeout=WAIT_MS)
    shoot(small, "accounts-phone-dark")
    small.get_by_role("link", name="Usage").click()
    sync_api.expect(small.locator("#total-requests")).to_be_visible(timeout=WAIT_MS)
    shoot(small, "usage-phone-dark")
    phone.close()


def test_an_embedded_server_says_its_state_is_this_process_alone(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, server)
    shared = page.locator("#shared-state")
    sync_api.expect(shared).to_have_text(re.compile(  # one process: no connection to lose, nothing queued
        r"^Shared state\s*embedded\s*this process only\s*1 live instance:\s*\S+ \(this one, started [^()]+ ago\)$"),
        timeout=WAIT_MS)


@pytest.fixture
def redis_backed(tmp_path: Path, fake: FakeCodex, issuer: FakeIssuer, redis_server: RedisServer) -> Iterator[Server]:
    write_account(tmp_path / "auth", "alice", "tok-a", "acc-1", plan="plus")
    write_account(tmp_path / "auth", "bob", "tok-b", "acc-2", plan="pro")
    state = f"state:\n  backend: redis\n  url: {redis_server.url}\n"
    with serve(tmp_path, fake.url + "/backend-api/codex", _config(issuer) + state) as running:  # type: ignore[attr-defined]
        yield running


def test_the_shared_state_shows_redis_its_instances_and_why_it_is_lost(
        redis_backed: Server, browser: Any, redis_server: RedisServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, redis_backed)
    shared = page.locator("#shared-state")
    sync_api.expect(shared).to_have_text(re.compile(  # the whole card: no failure, nothing queued
        r"^Shared state\s*redis\s*shared by the instances on one Redis\s*connected\s*"
        r"1 live instance:\s*\S+ \(this one, started [^()]+ ago\)$"), timeout=WAIT_MS)
    shoot(page, "accounts-shared-state")

    redis_server.stop()
    sync_api.expect(shared.locator("#state-link")).to_have_text("not connected", timeout=WAIT_MS)
    sync_api.expect(shared.locator("#state-detail")).to_contain_text(
        f"Redis at 127.0.0.1:{redis_server.port} is unreachable")
    sync_api.expect(shared.locator("#state-detail")).to_contain_text("serving from this instance's last view")
    sync_api.expect(shared).to_contain_text("the others cannot be seen")
    sync_api.expect(shared).to_contain_text(re.compile(r"\(this one, started [^()]+ ago\)"))  # its age, still
    assert chat(redis_backed) == [200]  # served from this instance's view; what it changed waits for Redis
    sync_api.expect(shared.locator("#state-queued")).to_have_text(re.compile(r"^\d+ writes? queued$"),
                                                                  timeout=WAIT_MS)
    shoot(page, "accounts-shared-state-lost")

    redis_server.start()
    sync_api.expect(shared.locator("#state-link")).to_have_text("connected", timeout=WAIT_MS)
    sync_api.expect(shared.locator("#state-queued")).to_have_count(0, timeout=WAIT_MS)  # written once it is back
