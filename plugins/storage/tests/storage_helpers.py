"""Stores for the containers-storage tests, and podman / buildah pointed at them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from skopeo.testing.require import require_tool


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
        podman = require_tool("podman")
        proc = subprocess.run([podman, *self.tool_args(), *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        buildah = require_tool("buildah")
        proc = subprocess.run([buildah, *self.tool_args(), *args], capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
