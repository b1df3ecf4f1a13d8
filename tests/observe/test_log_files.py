"""``logging-to-file`` with ``logs-max-total-size-mb``: real files that rotate at the cap, secrets masked."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproxy.observe.log_files import LOG_FILE, ROTATIONS, AppLogFile
from cliproxy.observe.logs import REDACTOR

MIB = 1024 * 1024


@pytest.fixture
def app_log(tmp_path: Path) -> Iterator[AppLogFile]:
    files = AppLogFile(tmp_path / "logs")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield files
    files.close()
    root.setLevel(level)


def _write(megabytes: float) -> None:
    line = "x" * 1000
    for _ in range(int(megabytes * MIB / 1000)):
        logging.getLogger("cliproxy.test").info(line)


def test_files_rotate_and_stay_within_the_cap(app_log: AppLogFile) -> None:
    app_log.configure(True, 1)
    _write(3)
    files = sorted(app_log.directory.glob(LOG_FILE + "*"))
    assert [f.name for f in files] == [LOG_FILE, *(f"{LOG_FILE}.{i}" for i in range(1, ROTATIONS + 1))]
    assert sum(f.stat().st_size for f in files) <= 1 * MIB
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_no_cap_is_one_file_that_never_rotates(app_log: AppLogFile) -> None:
    app_log.configure(True, 0)
    _write(0.5)
    assert [f.name for f in app_log.directory.iterdir()] == [LOG_FILE]


def test_secrets_are_masked_and_turning_it_off_stops_the_file(app_log: AppLogFile) -> None:
    REDACTOR.add(["sk-secret-value-123"])
    app_log.configure(True, 1)
    logging.getLogger("cliproxy.test").warning("key sk-secret-value-123 refused")
    app_log.configure(False, 1)
    logging.getLogger("cliproxy.test").warning("after turning it off")
    text = (app_log.directory / LOG_FILE).read_text()
    assert "key [redacted] refused" in text and "sk-secret-value-123" not in text
    assert "after turning it off" not in text
