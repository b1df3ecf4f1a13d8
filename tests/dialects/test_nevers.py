"""A translator is pure: it imports no I/O library and nothing that holds credentials, config,
pool state or the server, so it can be tested with plain data and fuzzed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DIALECTS = Path(__file__).resolve().parents[2] / "src" / "cliproxy" / "dialects"

FORBIDDEN = (
    "httpx",
    "h2",
    "starlette",
    "uvicorn",
    "socket",
    "ssl",
    "asyncio",
    "cliproxy.auth",
    "cliproxy.config",
    "cliproxy.pool",
    "cliproxy.server",
    "cliproxy.upstream",
    "cliproxy.runner",
)

# The one import still reaching outside: Gemini's thinking budget → effort level reads the model
# registry's helper. It belongs with the effort levels in cliproxy.responses.
KNOWN = {("gemini/request.py", "cliproxy.config.models")}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(DIALECTS.rglob("*.py")), ids=lambda p: str(p.relative_to(DIALECTS)))
def test_a_translator_imports_no_io_credentials_config_pool_or_server(path: Path) -> None:
    module = str(path.relative_to(DIALECTS))
    bad = {name for name in _imports(path) if _forbidden(name) and (module, name) not in KNOWN}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("import httpx.ext\nfrom cliproxy.server import app\nfrom . import names\nimport httpxy\n")
    assert sorted(name for name in _imports(source) if _forbidden(name)) == ["cliproxy.server", "httpx.ext"]
