"""The differential table: each command line of ``cli_table_cases`` must give
upstream's stdout, stderr and exit status, byte for byte (log timestamps, the
run's paths and random temporary names aside).

Upstream's outputs come from the real binary when ``$SKOPEO_UPSTREAM`` names
one (a build of upstream main, see ``dev/record-cli-table``; 1.9.3 at
/usr/bin/skopeo for the GnuPG texts), else from ``recorded.json``, which that
script regenerates from the same binaries.  The whole table runs once, in
parallel, for the cases this session selected."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cli_table_harness as harness
from cli_table_cases import all_cases

from skopeo.testing.require import require_root, skip_or_fail, upstream_main

pytestmark = pytest.mark.slow
CASES = all_cases()
LIVE = bool(os.environ.get(harness.UPSTREAM_ENV))


@pytest.fixture(scope="module")
def outputs(request: pytest.FixtureRequest) -> dict[str, tuple[harness.Result, harness.Result]]:
    """(expected, ours) for every selected case, all run at once."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "callspec", None) is not None and item.module is request.module
                and "case" in item.callspec.params]
    if os.geteuid() != 0:  # cases that need root are not run (the test skips them)
        selected = [case for case in selected if not case.needs_root]
    ours = harness.run_all(selected, lambda case: harness.our_command(), harness.our_env())
    if LIVE:
        expected = harness.run_all(selected, harness.reference_command, {})
    else:
        recorded = harness.load_recorded()
        expected = {case.id: recorded[case.id] for case in selected if case.id in recorded}
    return {cid: (expected[cid], harness.without_our_additions(r)) for cid, r in ours.items() if cid in expected}


@pytest.fixture(scope="module")
def our_transports() -> set[str]:
    from skopeo import plugins

    return set(plugins.transports())


def _show(result: harness.Result) -> str:
    return f"exit {result.rc}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_output_as_upstream(case: harness.Case, outputs: dict[str, tuple[harness.Result, harness.Result]],
                                 our_transports: set[str]) -> None:
    for name in sorted(case.transports - our_transports):
        skip_or_fail(f"skopeo-{name}", f"the {name}: transport is not installed")
    if case.needs_root:
        require_root("upstream's containers-storage cases were recorded as root")
    if case.id not in outputs:
        if not LIVE:
            pytest.fail("no recorded output: run dev/record-cli-table")
        if case.reference == "1.9.3":
            skip_or_fail("reference-skopeo", f"{harness.ORACLE_193} (1.9.3, built with GnuPG) is not installed")
        upstream_main()
        pytest.fail(f"no output from {harness.reference_command(case)}")
    expected, ours = outputs[case.id]
    if case.differs:
        assert ours != expected, f"now identical to upstream: remove the deliberate difference ({case.differs})"
        pytest.xfail(case.differs)
    assert "Traceback" not in ours.stderr
    assert _show(ours) == _show(expected)


def test_recordings_cover_the_table() -> None:
    """Every case has a recorded reference output, and nothing else is recorded."""
    recorded = harness.load_recorded()
    ids = {c.id for c in CASES}
    assert sorted(ids - set(recorded)) == [], "run dev/record-cli-table"
    assert sorted(set(recorded) - ids) == [], "run dev/record-cli-table"
