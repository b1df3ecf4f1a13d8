"""CPU time and resident memory of a server's whole process tree, read from /proc.

A server may fork workers (nginx does), so every figure sums the root process and its live
descendants. CPU is ``utime + stime`` of each process (all its threads, dead ones included);
children that already exited and were reaped count through the parent's ``cutime + cstime``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Stat:
    ppid: int
    cpu_ticks: int


def _read_stat(pid: int) -> _Stat | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return _Stat(int(fields[1]), utime + stime + cutime + cstime)


def _all_stats() -> dict[int, _Stat]:
    stats: dict[int, _Stat] = {}
    for entry in os.listdir(_PROC):
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    return stats


def tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by these processes, in seconds."""
    total = 0
    for pid in pids:
        stat = _read_stat(pid)
        if stat is not None:
            total += stat.cpu_ticks
    return total / _TICK


def rss_bytes(pids: list[int]) -> int:
    """Resident set size summed over these processes (``VmRSS``)."""
    total = 0
    for pid in pids:
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
    return total


class TreeMeter:
    """Meters one server: process list fixed at start-up (servers here do not fork under load)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.pids = tree(root)

    def refresh(self) -> None:
        self.pids = tree(self.root)

    def cpu(self) -> float:
        return cpu_seconds(self.pids)

    def rss(self) -> int:
        return rss_bytes(self.pids)
