"""``cliproxy usage``: the usage history as tables (per day, hour, account, model, client key).

Reads the SQLite file next to the config directly, so it works whether the server runs or not
(WAL mode: reading never blocks the server's writer).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import click
import orjson

from cliproxy.cli.options import Command, config_option
from cliproxy.config.load import config_path
from cliproxy.config.schema import ConfigError
from cliproxy.observe.usage import GROUPS, summary, usage_path

if TYPE_CHECKING:
    from rich.table import Table

TITLES = {"day": "Day", "hour": "Hour", "account": "Account", "model": "Model", "key": "Client key",
          "dialect": "Dialect"}
NUMBERS = ("requests", "failed", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens",
           "total_tokens")
# Short headers so the tables fit an 80-column terminal with an email in the first column.
HEADERS = ("Req", "Fail", "In", "Cached", "Out", "Reason", "Total", "TTFT", "Time")


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _cells(row: dict[str, Any]) -> list[str]:
    return [f"{row.get(name) or 0:,}" for name in NUMBERS] + [_ms(row.get("avg_ttft_ms")),
                                                               _ms(row.get("avg_duration_ms"))]


def _table(group: str, rows: list[dict[str, Any]], totals: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=f"by {TITLES[group].lower()} (TTFT and time: averages)", title_justify="left",
                  show_footer=True, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    table.add_column(TITLES[group], footer="total", no_wrap=True, overflow="fold")
    for header, footer in zip(HEADERS, _cells(totals), strict=True):
        table.add_column(header, justify="right", footer=footer, no_wrap=True, min_width=len(header))
    for row in rows:
        table.add_row(str(row.get(group) or "-"), *_cells(row))
    return table


@click.command("usage", cls=Command)
@config_option
@click.option("--days", type=float, default=7, show_default=True, help="How many days back to include.")
@click.option("--by", default="day,account,model", show_default=True,
              help="Groupings, comma-separated: day, hour, account, model, key, dialect.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def usage(config: str | None, days: float, by: str, as_json: bool) -> None:
    """Show token usage and latency recorded by the server."""
    groups = [g.strip() for g in by.split(",") if g.strip()]
    if unknown := [g for g in groups if g not in GROUPS]:
        raise click.BadParameter(f"unknown grouping {', '.join(unknown)}; use: {', '.join(GROUPS)}")
    try:
        path = usage_path(config_path(config, os.environ))
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    until = time.time() + 1
    result = summary(path, until - days * 86400, until, groups)
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console

    out = Console(highlight=False)
    if not result["totals"]["requests"]:
        out.print(f"No requests recorded in the last {days:g} day(s) ({path}).")
        return
    out.print(f"Usage over the last {days:g} day(s), from {path}")
    for group in groups:
        out.print(_table(group, result[f"by_{group}"], result["totals"]))


def register(app: click.Group) -> None:
    """Add ``usage`` to the main CLI group."""
    app.add_command(usage)


__all__ = ["register", "usage"]
