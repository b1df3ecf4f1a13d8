"""The nevers of the architecture, checked on what each module really loads.

Each module is imported alone in a fresh interpreter: a bare ``python`` that has loaded nothing of the
program or its libraries forks one child per module, so one interpreter start serves them all. The child
records which module imported which, so a failure names the chain that pulled the forbidden module in.
What counts is what an import loads at module level: that is what drags a layer or a library into every
process that uses the module. Modules are found by walking the package, so a new one is checked at once.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import cliproxy

SRC = Path(cliproxy.__file__).resolve().parents[1]

TRANSLATORS = ("cliproxy.dialects.openai_chat", "cliproxy.dialects.anthropic", "cliproxy.dialects.gemini",
               "cliproxy.dialects.openai_responses", "cliproxy.dialects.completions", "cliproxy.responses",
               "cliproxy.dialects.responses_socket")
BELOW_THE_SERVER = ("cliproxy.pool", "cliproxy.upstream", "cliproxy.auth", "cliproxy.config", "cliproxy.observe",
                    "cliproxy.keys")
# The shared state stores and announces plain data: it knows nothing of what the data means.
STATE = "cliproxy.state"
# Named here, not only found by the walk: its absence is a break of its own rule.
CREDENTIAL = "cliproxy.credential"
# The Amp module's pure parts: mapping, request cleaning, answer rewriting.
AMP_PURE = ("cliproxy.amp.mapping", "cliproxy.amp.sanitize", "cliproxy.amp.rewrite", "cliproxy.amp.paths")
DASHBOARD = "cliproxy.dashboard"
# Everything a server loads at start: the dashboard must stay out of it until it is first opened.
AT_START = ("cliproxy.server", "cliproxy.cli", "cliproxy.runner", *BELOW_THE_SERVER)


def under(name: str, *prefixes: str) -> bool:
    """Whether ``name`` is one of ``prefixes`` or a module inside one of those packages."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _outside_the_standard_library(name: str) -> bool:
    return name.split(".")[0] not in sys.stdlib_module_names and name not in ("cliproxy", CREDENTIAL)


def _outside_the_responses_format(name: str) -> bool:
    return under(name, "cliproxy") and name != "cliproxy" and not under(name, "cliproxy.errors", "cliproxy.responses")


@dataclass(frozen=True)
class Never:
    """Modules under ``subjects`` load no module for which ``forbidden`` holds."""

    rule: str
    subjects: tuple[str, ...]
    forbidden: Callable[[str], bool]


NEVERS = (
    Never("a translator loads no credentials, config, pool, server, upstream or I/O library", TRANSLATORS,
          lambda name: under(name, "cliproxy.auth", "cliproxy.config", "cliproxy.pool", "cliproxy.server",
                             "cliproxy.upstream", "httpx", "starlette", "uvicorn")),
    Never("below the server only Responses is spoken: the upstream, pool, auth, config and observe load no dialect",
          BELOW_THE_SERVER, lambda name: under(name, "cliproxy.dialects")),
    Never("nothing below the server loads the server or the CLI", BELOW_THE_SERVER,
          lambda name: under(name, "cliproxy.server", "cliproxy.cli")),
    Never("the Credential type loads only the standard library", (CREDENTIAL,), _outside_the_standard_library),
    Never("the Responses format loads nothing of cliproxy but errors", ("cliproxy.responses",),
          _outside_the_responses_format),
    Never("client keys know no account: they load no pool, upstream, auth or runner", ("cliproxy.keys",),
          lambda name: under(name, "cliproxy.pool", "cliproxy.upstream", "cliproxy.auth", "cliproxy.runner")),
    Never("nothing below the server loads the Amp module", BELOW_THE_SERVER, lambda name: under(name, "cliproxy.amp")),
    Never("the Amp module loads no CLI", ("cliproxy.amp",), lambda name: under(name, "cliproxy.cli")),
    Never("the Amp module's mapping, cleaning and rewriting load no server, pool, upstream or I/O library", AMP_PURE,
          lambda name: under(name, "cliproxy.server", "cliproxy.pool", "cliproxy.upstream", "cliproxy.auth", "httpx",
                             "starlette", "uvicorn")),
    Never("the dashboard is a page over the management API: it loads no public route, no composition root, no CLI",
          (DASHBOARD,), lambda name: under(name, "cliproxy.server.routes", "cliproxy.server.app", "cliproxy.cli")),
    Never("the dashboard is loaded on its first request, never at start", AT_START,
          lambda name: under(name, DASHBOARD)),
    Never("nothing below the server loads the server or the CLI (the shared state included)", (STATE,),
          lambda name: under(name, "cliproxy.server", "cliproxy.cli", "cliproxy.dialects")),
    Never("the shared state loads no pool, auth, upstream, runner or observe: it stores plain data", (STATE,),
          lambda name: under(name, "cliproxy.pool", "cliproxy.auth", "cliproxy.upstream", "cliproxy.runner",
                             "cliproxy.observe")),
)


def all_modules() -> list[str]:
    found = {info.name for info in pkgutil.walk_packages(cliproxy.__path__, "cliproxy.")}
    return sorted(name for name in found if not name.endswith(".__main__"))


def nevers_for(module: str) -> list[Never]:
    return [never for never in NEVERS if under(module, *never.subjects)]


CHECKED = [module for module in all_modules() if nevers_for(module)]


# A bare interpreter forks a child per module; the child imports it and reports, as JSON on a pipe, every
# module the import added (or, if it failed, tried to import) and which module's code imported each one.
_PROBE = r"""
import json, os, sys, traceback

def importer_of(frame):
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
        frame = frame.f_back
    return None if frame is None else frame.f_globals.get("__name__")

def probe(module):
    importers = {}
    class Recorder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            importers.setdefault(name, importer_of(sys._getframe(1)))
    before = set(sys.modules)
    sys.meta_path.insert(0, Recorder)
    try:
        __import__(module)
    except BaseException:  # what it tried to import still shows the way it went
        return {"error": traceback.format_exc(), "importers": importers}
    added = [name for name, value in sys.modules.items() if value is not None and name not in before]
    return {"importers": {name: importers.get(name) for name in added}}

results = {}
for module in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        with os.fdopen(write, "w") as out:
            json.dump(probe(module), out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as report:
        results[module] = json.load(report)
    os.waitpid(pid, 0)
json.dump(results, sys.stdout)
"""


@dataclass(frozen=True)
class Loaded:
    """What importing one module alone added to ``sys.modules``: each name and the module that imported it."""

    importers: Mapping[str, str | None]
    error: str | None = None


def probe(modules: list[str]) -> dict[str, Loaded]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _PROBE, *modules], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return {module: Loaded(report.get("importers", {}), report.get("error"))
            for module, report in json.loads(done.stdout).items()}


def chain(module: str, name: str, importers: Mapping[str, str | None]) -> str:
    """``import module: a → … → name``: who imported whom, from the import of the module under test (which
    first imports its packages) to the forbidden module."""
    links = [name]
    while (parent := importers.get(links[-1])) is not None and parent != "__main__" and parent not in links:
        links.append(parent)
    return f"import {module}: " + " → ".join(reversed(links))


def breaks(never: Never, module: str, loaded: Loaded) -> list[str]:
    """One chain per way into forbidden ground (a package entered for its submodule counts once)."""
    entries = [name for name, importer in loaded.importers.items()
               if never.forbidden(name) and not (importer and never.forbidden(importer))]
    entries = [name for name in entries if not any(other.startswith(name + ".") for other in entries)]
    return [chain(module, name, loaded.importers) for name in sorted(entries)]


@pytest.fixture(scope="module")
def loads() -> dict[str, Loaded]:
    return probe(CHECKED)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the probe forks one child per module")
@pytest.mark.parametrize("module", CHECKED)
def test_a_module_loads_nothing_its_layer_must_never_load(module: str, loads: dict[str, Loaded]) -> None:
    loaded = loads[module]
    problems = [f"{module} breaks the rule '{never.rule}':\n" + "\n".join(f"    {c}" for c in chains)
                for never in nevers_for(module) if (chains := breaks(never, module, loaded))]
    if loaded.error is not None:
        problems.append(f"{module} cannot be imported alone:\n{loaded.error}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
