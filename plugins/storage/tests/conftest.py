"""Fixtures for the containers-storage tests: private stores (graph root and run
root in a temporary directory, one per test), podman and buildah pointed at
them, and a registry holding small images.  The Go tools may leave a bind mount
of the driver directory behind (containers/storage's overlay driver mounts its
home private); every mount below a test's directory is unmounted at the end."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storage_helpers import Store, unmount_under

from skopeo.testing.images import make_image
from skopeo.testing.require import reference_skopeo as reference_skopeo_path
from skopeo.testing.require import require_root


def _short_run_root() -> Path:
    # podman refuses run roots longer than 50 characters; pytest's paths are longer.
    return Path(tempfile.mkdtemp(prefix="csrun-", dir="/tmp"))


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Makes empty stores (graph root under tmp_path, a short run root)."""
    runs: list[Path] = []

    def make(driver: str, name: str = "storage") -> Store:
        run = _short_run_root()
        runs.append(run)
        return Store(tmp_path / name / "root", run, driver)

    try:
        yield make
    finally:
        unmount_under(tmp_path)
        for run in runs:
            unmount_under(run)
            shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(params=["overlay", "vfs"])
def store(request: pytest.FixtureRequest, make_store: Callable[..., Store]) -> Store:
    """An empty store with each driver."""
    if request.param == "overlay":
        require_root("overlay stores are tested as root")
    return make_store(request.param)


@pytest.fixture
def oci_images(tmp_path: Path) -> Path:
    """An OCI layout with a 3-layer image ``three`` and a 1-layer ``one``."""
    path = tmp_path / "layout"
    make_image(str(path), "three", seed=11, layers=3)
    make_image(str(path), "one", seed=12, layers=1)
    return path


@pytest.fixture
def reference_skopeo() -> Callable[..., subprocess.CompletedProcess[str]]:
    oracle = reference_skopeo_path()

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([oracle, "--insecure-policy", *args], capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"reference skopeo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run
