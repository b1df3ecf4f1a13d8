"""``cliproxy status``: the pool table — account, state, quota used, resets in, requests, errors.

It asks the running server over loopback with the local token the server wrote at start-up
(``server/status_route.py``); when no server answers, it reads the pool state file instead and
says how old it is. ``register(app)`` adds the command to the main CLI (cli.py).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import click
import httpx
import orjson

from cliproxy.auth.credentials import load_credentials
from cliproxy.cli.options import Command, config_option, load_cli_config
from cliproxy.cli.terminal import out
from cliproxy.config.schema import Config
from cliproxy.pool.core import Pool
from cliproxy.pool.store import FilePoolStore, state_dir
from cliproxy.server.gate import is_loopback
from cliproxy.server.status_route import RESET_PATH, STATUS_PATH, TOKEN_HEADER, read_server_file

if TYPE_CHECKING:
    from rich.table import Table

ANY_ADDRESS = frozenset({"0.0.0.0", "::", "[::]", ""})


def _config(explicit: str | None) -> Config:
    return load_cli_config(explicit, show_warnings=False)[0]


def server_url(config: Config, host: str | None = None) -> str:
    """Where the local server listens according to the config (any-address binds → loopback)."""
    chosen = host if host is not None else config.host
    shown = "127.0.0.1" if chosen in ANY_ADDRESS else chosen
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    scheme = "https" if config.tls.enable else "http"
    return f"{scheme}://{shown}:{config.port}"


def ask_server(config: Config, url: str | None, path: str, body: dict[str, Any] | None = None) -> Any:
    """The running server's JSON answer on a local route (GET, or POST with ``body``), or None when
    no server of ours answers. The token of the server file goes to loopback only."""
    record = read_server_file(state_dir(config.auth_path))
    if not record or not record.get("token"):
        return None
    base = url or server_url(config, str(record.get("host") or ""))
    if not is_loopback(httpx.URL(base).host):  # the token never leaves this machine
        return None
    try:
        response = httpx.request("GET" if body is None else "POST", base.rstrip("/") + path, json=body,
                                 headers={TOKEN_HEADER: str(record["token"])}, timeout=3.0, verify=False,
                                 trust_env=False)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def from_server(config: Config, url: str | None) -> dict[str, Any] | None:
    """The live snapshot, or None when no server of ours answers."""
    data = ask_server(config, url, STATUS_PATH)
    return data if isinstance(data, dict) else None


def reset_rests(config: Config, name: str | None) -> tuple[list[str], str]:
    """End the rests of account ``name`` (a file name) or of all: in the running server when one
    answers, else in the saved state the next start reads. The ids reset, and where."""
    answer = ask_server(config, None, RESET_PATH, {"name": name} if name else {})
    if isinstance(answer, dict) and isinstance(answer.get("reset"), list):
        return [str(cid) for cid in answer["reset"]], "in the running server"
    store = FilePoolStore.for_auth_dir(config.auth_path)
    pool = Pool.from_config(load_credentials(config), config)
    pool.attach(store)
    ids = [c.id for c in pool.credentials() if name is None or c.id == name]
    done = [cid for cid in ids if pool.reset(cid)]
    if done:
        store.save(pool.export_state())
    return done, "in the saved state (no server is running)"


def from_state_file(config: Config) -> tuple[dict[str, Any], float | None]:
    """The snapshot rebuilt from the account files and the state file, with the file's age."""
    store = FilePoolStore.for_auth_dir(config.auth_path)
    pool = Pool.from_config(load_credentials(config), config)
    pool.attach(store)
    return pool.snapshot(), store.age()


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return "now"
    seconds = math.ceil(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _used(window: dict[str, Any] | None) -> str:
    return "—" if not window else f"{round(float(window['used_percent']))} %"


def _resets_in(account: dict[str, Any], now: float) -> str:
    if account.get("until"):
        return _duration(float(account["until"]) - now)
    resets = [float(w["reset_at"]) for w in account.get("windows", {}).values() if w.get("reset_at")]
    future = [at for at in resets if at > now]
    return _duration(min(future) - now) if future else "—"


def _number(account: dict[str, Any]) -> str:
    """The "#" column: ``#2`` for ``account #2`` (the heading says the rest, and an 80-column
    terminal keeps room for the account's own name), or the label the account is known by."""
    return str(account.get("public_name") or "").removeprefix("account ")


def render(snapshot: dict[str, Any], source: str) -> Table:
    from rich import box
    from rich.table import Table

    now = float(snapshot.get("now") or time.time())
    table = Table(box=box.SIMPLE, title=source, title_justify="left")
    table.add_column("#", no_wrap=True, min_width=3)  # the name errors sent to clients use (never an e-mail)
    table.add_column("account", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for column in ("5h", "weekly", "resets in", "requests", "errors"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("why", overflow="fold")
    for account in snapshot.get("accounts", []):
        windows = account.get("windows", {})
        table.add_row(_number(account), account["name"], account["state"],
                      _used(windows.get("short")), _used(windows.get("long")), _resets_in(account, now),
                      str(account["requests"]), str(account["errors"]), account.get("reason") or "")
    return table


@click.command("status", cls=Command)
@config_option
@click.option("--url", default=None, help="The server's URL, when not the config's host and port.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config: str | None, url: str | None, as_json: bool) -> None:
    """Show the account pool: state, quota windows, requests and errors per account."""
    loaded = _config(config)
    snapshot = from_server(loaded, url)
    if snapshot is not None:
        source = "live, from the running server"
    else:
        snapshot, age = from_state_file(loaded)
        source = ("server not running; from the state file written " + _duration(age) + " ago"
                  if age is not None else "server not running; no state saved yet")
    if as_json:
        out().print(orjson.dumps({"source": source, **snapshot}, option=orjson.OPT_INDENT_2).decode(), markup=False)
        return
    if not snapshot.get("accounts"):
        out().print("No account yet: run `cliproxy login`.", markup=False)
        return
    out().print(render(snapshot, source))
    if isinstance(snapshot.get("state"), dict):
        out().print(state_line(snapshot["state"]), markup=False)


def state_line(state: dict[str, Any]) -> str:
    """``state: redis (connected) · 3 live instances: …``, or the embedded backend's one instance."""
    backend = str(state.get("backend") or "embedded")
    if backend == "embedded":
        return "state: embedded (this instance alone)"
    link = "connected" if state.get("connected") else f"DISCONNECTED: {state.get('detail') or 'unreachable'}"
    live = [str(beat.get("instance")) for beat in state.get("instances") or [] if isinstance(beat, dict)]
    queued = f" · {state.get('queued')} write(s) queued" if state.get("queued") else ""
    return f"state: {backend} ({link}){queued} · {len(live)} live instance(s): {', '.join(live)}"


def register(app: click.Group) -> None:
    """Add ``status`` to the main CLI group."""
    app.add_command(status)


__all__ = ["register", "render", "status"]
