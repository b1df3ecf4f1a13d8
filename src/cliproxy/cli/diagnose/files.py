"""The account files hold refresh tokens: the directory must be 0700 and each file 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from cliproxy.cli.diagnose.findings import Finding


def _open_to_others(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def check_auth_files(auth_dir: Path) -> Finding:
    if not auth_dir.is_dir():
        return Finding("files", "info", f"{auth_dir} does not exist yet (`cliproxy login` creates it)")
    if _open_to_others(auth_dir):
        return Finding("files", "fail", f"{auth_dir} can be read by other users", f"chmod 700 {auth_dir}")
    loose = [p for p in auth_dir.glob("*.json") if _open_to_others(p)]  # not named: a name may be an e-mail
    if loose:
        return Finding("files", "fail", f"{len(loose)} account file(s) in {auth_dir} readable by other users",
                       f"chmod 600 {auth_dir}/*.json")
    return Finding("files", "ok", f"{auth_dir} is 0700 and its account files 0600")


__all__ = ["check_auth_files"]
