"""Fixtures for the containers-storage tests: private stores (graph root and run
root in a temporary directory, one per test), podman and buildah pointed at
them, and a registry holding small images.  The Go tools may leave a bind mount
of the driver directory behind (containers/storage's overlay driver mounts its
home private); every mount below a test's directory is unmounted at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skopeo.testing.fixtures import ORACLE
from skopeo.testing.images import make_image

PODMAN = shutil.which("podman")
BUILDAH = shutil.which("buildah")


def unmount_under(path: Path) -> None:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@dataclass
class Store:
    root: Path
    run: Path
    driver: str

    @property
    def spec(self) -> str:
        return f"[{self.driver}@{self.root}+{self.run}]"

    def ref(self, name: str) -> str:
        return f"containers-storage:{self.spec}{name}"

    def tool_args(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.run), "--storage-driver", self.driver]

    def podman(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        if PODMAN is None:
            pytest.skip("podman is not installed")
        proc = subprocess.run([PODMAN, *self.tool_args(), *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if BUILDAH is None:
            pytest.skip("buildah is not installed")
        proc = subprocess.run([BUILDAH, *self.tool_args(), *args], capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


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
    if request.param == "overlay" and os.geteuid() != 0:
        pytest.skip("overlay stores are tested as root")
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
    if not os.path.exists(ORACLE):
        pytest.skip("the reference skopeo is not installed")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([ORACLE, "--insecure-policy", *args], capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"reference skopeo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run
