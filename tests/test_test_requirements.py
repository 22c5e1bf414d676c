"""The test suite's own rule for missing components (skopeo.testing.require):
skipped and counted locally, an error naming the component under
``SKOPEO_TESTS_REQUIRE``; and the reference skopeo found, not hard-coded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skopeo.testing import require

INNER = '''
import pytest
from skopeo.testing.require import require_tool, skip_or_fail

def test_body_needs_a_tool():
    require_tool("no-such-tool-for-skopeo-tests")

@pytest.mark.requires("no-such-tool-for-skopeo-tests")
def test_marked():
    pass

def test_daemon_cannot_start():
    skip_or_fail("some-daemon", "it cannot run here")

def test_plain():
    pass
'''


def run_inner(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    full = {k: v for k, v in os.environ.items() if k != require.ENV_REQUIRE}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                           "test_inner.py"], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)


def test_missing_components_skip_locally_and_are_counted(tmp_path: Path) -> None:
    proc = run_inner(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 3 skipped" in proc.stdout
    assert ("3 tests skipped because something they need is missing: no-such-tool-for-skopeo-tests (2), "
            "some-daemon (1); SKOPEO_TESTS_REQUIRE=all (as in CI) makes them errors") in proc.stdout
    assert "needs no-such-tool-for-skopeo-tests: no-such-tool-for-skopeo-tests is not installed" in proc.stdout


def test_required_components_fail_naming_them(tmp_path: Path) -> None:
    value = "all"
    proc = run_inner(tmp_path, SKOPEO_TESTS_REQUIRE=value)
    assert proc.returncode == 1, proc.stdout
    assert "2 failed, 1 passed, 1 error" in proc.stdout
    assert (f"required component missing: no-such-tool-for-skopeo-tests: no-such-tool-for-skopeo-tests is not "
            f"installed (SKOPEO_TESTS_REQUIRE={value})") in proc.stdout
    assert "required component missing: some-daemon: it cannot run here" in proc.stdout
    assert ("3 tests failed because a required component is missing: no-such-tool-for-skopeo-tests (2), "
            "some-daemon (1)") in proc.stdout


def test_requiring_some_components_leaves_the_others_skipped(tmp_path: Path) -> None:
    proc = run_inner(tmp_path, SKOPEO_TESTS_REQUIRE="some-daemon,another")
    assert proc.returncode == 1
    assert "1 failed, 1 passed, 2 skipped" in proc.stdout
    assert "required component missing: some-daemon: it cannot run here (SKOPEO_TESTS_REQUIRE=some-daemon,another)" in proc.stdout


def test_reference_is_found_on_path_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = tmp_path / "venv-bin"
    ours.mkdir()
    (ours / "skopeo").write_text("#!/usr/bin/env python3\n")  # a console script, like ours
    (ours / "skopeo").chmod(0o755)
    go = tmp_path / "go-bin"
    go.mkdir()
    (go / "skopeo").write_bytes(b"\x7fELF")  # a binary
    (go / "skopeo").chmod(0o755)
    monkeypatch.delenv(require.ENV_REFERENCE, raising=False)
    monkeypatch.setenv("PATH", f"{ours}{os.pathsep}{go}")
    assert require.find_reference_skopeo() == str(go / "skopeo")
    monkeypatch.setenv("PATH", str(ours))
    assert require.find_reference_skopeo() is None
    monkeypatch.setenv(require.ENV_REFERENCE, str(ours / "skopeo"))  # named explicitly: taken as it is
    assert require.find_reference_skopeo() == str(ours / "skopeo")
    monkeypatch.setenv(require.ENV_REFERENCE, str(tmp_path / "nothing"))
    assert require.find_reference_skopeo() is None
