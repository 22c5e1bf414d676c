"""Rootless use: our skopeo run as an unprivileged user (uid 65534, no user
namespace of its own) with a per-user ``storage.conf``.

What works: vfs, for images whose files belong to root (the invoking user
stands for the container's root, as in upstream's user namespace) and, with
``ignore_chown_errors``, for any image; overlay natively (whiteouts are 0/0 character devices, which Linux 5.8 and later
let any user create; on older kernels a layer with whiteouts fails with an error
saying what to configure instead) and with ``mount_program`` (fuse-overlayfs:
whiteouts stay files, as upstream writes them for it).  The reference skopeo and podman, run
as the same user, read what we wrote."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storage_layers import build_tar, chardev, directory, file, rich_layer, symlink, whiteout_layer, write_image

from samples import REPO_ROOT
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.require import find_reference_skopeo, require_root, require_tool, skip_or_fail

UID = 65534
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.slow


def _system_python_matches() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    out = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                         text=True)
    return out.stdout.strip() == str(sys.version_info[:2])


@pytest.fixture
def user_home() -> Iterator[Path]:
    """A home directory the unprivileged user owns (outside pytest's 0700 tree)."""
    require_root("needs root to switch to an unprivileged user")
    require_tool("setpriv")
    if not _system_python_matches():
        skip_or_fail("system-python", f"{SYSTEM_PYTHON} is not Python {sys.version_info[0]}.{sys.version_info[1]}")
    home = Path(tempfile.mkdtemp(prefix="rootless-", dir="/tmp"))
    (home / ".config" / "containers").mkdir(parents=True)
    (home / "run").mkdir(mode=0o700)
    (home / "policy.json").write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    try:
        yield home
    finally:
        _stop_processes_of(home)
        subprocess.run(["chown", "-R", "0:0", str(home)], check=False)
        shutil.rmtree(home, ignore_errors=True)


def _stop_processes_of(home: Path) -> None:
    """Rootless podman leaves its pause process (the user namespace's keeper)
    running: stop every process this test's user session started."""
    import signal

    marker = f"HOME={home}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _as_user(home: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    subprocess.run(["chown", "-R", f"{UID}:{UID}", str(home)], check=True)
    paths = [str(REPO_ROOT / "core"), *map(str, sorted((REPO_ROOT / "plugins").glob("*"))),
             *map(str, sorted((REPO_ROOT / "docs" / "examples").glob("skopeo-*"))), sysconfig.get_paths()["purelib"]]
    env = ["env", "-i", f"HOME={home}", f"XDG_RUNTIME_DIR={home}/run", "PATH=/usr/bin:/bin",
           f"PYTHONPATH={':'.join(paths)}"]
    return subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *env, *argv],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def ours(user_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _as_user(user_home, [SYSTEM_PYTHON, "-m", "skopeo", "--policy", str(user_home / "policy.json"), *args])

    return run


def _configure(home: Path, text: str) -> None:
    (home / ".config" / "containers" / "storage.conf").write_text(text)


def _image(home: Path, layers: list[bytes]) -> str:
    layout = home / "layout"
    write_image(layout, "x", layers)
    return f"oci:{layout}:x"


ROOT_OWNED = [directory("etc"), file("etc/os-release", b"ID=test\n"), symlink("bin", "usr/bin"),
              directory("usr"), directory("usr/bin", mode=0o555), file("usr/bin/tool", b"run", mode=0o755)]


def test_vfs_per_user_store(user_home: Path, ours) -> None:  # type: ignore[no-untyped-def]
    _configure(user_home, '[storage]\ndriver = "vfs"\n')
    src = _image(user_home, [build_tar(ROOT_OWNED), build_tar([file("etc/motd", b"hi")])])
    proc = ours("copy", src, "containers-storage:localhost/rootless:v1")
    assert proc.returncode == 0, proc.stderr
    store = user_home / ".local" / "share" / "containers" / "storage"
    images = json.loads((store / "vfs-images" / "images.json").read_text())
    assert images[0]["names"] == ["localhost/rootless:v1"]
    proc = ours("copy", "containers-storage:localhost/rootless:v1", f"dir:{user_home}/out")
    assert proc.returncode == 0, proc.stderr
    oracle = find_reference_skopeo()
    if oracle is not None:
        theirs = _as_user(user_home, [oracle, "--insecure-policy", "copy", "containers-storage:localhost/rootless:v1",
                                      f"dir:{user_home}/theirs"])
        assert theirs.returncode == 0, theirs.stderr
        blobs = {p.name: p.read_bytes() for p in (user_home / "out").iterdir() if p.name != "manifest.json"}
        assert blobs == {p.name: p.read_bytes() for p in (user_home / "theirs").iterdir() if p.name != "manifest.json"}
    if shutil.which("podman"):
        listed = _as_user(user_home, ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"])
        assert "localhost/rootless:v1" in listed.stdout.split(), listed.stderr


def test_foreign_owners_need_ignore_chown_errors(user_home: Path, ours) -> None:  # type: ignore[no-untyped-def]
    _configure(user_home, '[storage]\ndriver = "vfs"\n')
    src = _image(user_home, [build_tar(rich_layer())])
    proc = ours("copy", src, "containers-storage:localhost/owners:v1")
    assert proc.returncode == 1
    assert "ignore_chown_errors" in fatal_message(proc.stderr)
    _configure(user_home, '[storage]\ndriver = "vfs"\n[storage.options.vfs]\nignore_chown_errors = "true"\n')
    proc = ours("copy", src, "containers-storage:localhost/owners:v1")
    assert proc.returncode == 0, proc.stderr
    # Read back whole: the tar is rebuilt from tar-split with its original owners.
    proc = ours("copy", "containers-storage:localhost/owners:v1", f"dir:{user_home}/out")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.requires("fuse-overlayfs")
def test_overlay_with_mount_program(user_home: Path, ours) -> None:  # type: ignore[no-untyped-def]
    _configure(user_home, '[storage]\ndriver = "overlay"\n[storage.options.overlay]\n'
                          'mount_program = "/usr/bin/fuse-overlayfs"\nignore_chown_errors = "true"\n')
    src = _image(user_home, [build_tar(rich_layer()), build_tar(whiteout_layer())])
    proc = ours("copy", src, "containers-storage:localhost/fuse:v1")
    assert proc.returncode == 0, proc.stderr
    store = user_home / ".local" / "share" / "containers" / "storage"
    layers = json.loads((store / "overlay-layers" / "layers.json").read_text())
    top = store / "overlay" / layers[-1]["id"] / "diff"
    assert (top / "etc" / ".wh.shadow").is_file()  # whiteouts stay files for fuse-overlayfs
    assert (top / "usr" / "lib" / ".wh..wh..opq").is_file()
    proc = ours("copy", "containers-storage:localhost/fuse:v1", f"dir:{user_home}/out")
    assert proc.returncode == 0, proc.stderr


def test_native_overlay(user_home: Path, ours) -> None:  # type: ignore[no-untyped-def]
    """Without a mount program: whiteouts are 0/0 character devices (Linux 5.8
    and later let any user create those) and opaque directories carry
    ``user.overlay.opaque``, which rootless overlayfs reads."""
    _configure(user_home, '[storage]\ndriver = "overlay"\n')
    layers = [build_tar(ROOT_OWNED), build_tar([directory("etc"), file("etc/.wh.os-release", b""),
                                                directory("usr/bin"), file("usr/bin/.wh..wh..opq", b"")])]
    proc = ours("copy", _image(user_home, layers), "containers-storage:localhost/wh:v1")
    if proc.returncode:
        # Older kernels: the error says what to do instead.
        assert "configure mount_program (fuse-overlayfs) or use the vfs driver" in fatal_message(proc.stderr)
        return
    store = user_home / ".local" / "share" / "containers" / "storage"
    top = store / "overlay" / json.loads((store / "overlay-layers" / "layers.json").read_text())[-1]["id"] / "diff"
    st = (top / "etc" / "os-release").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(top / "usr" / "bin", "user.overlay.opaque") == b"y"
    proc = ours("copy", "containers-storage:localhost/wh:v1", f"dir:{user_home}/out")
    assert proc.returncode == 0, proc.stderr


def test_device_nodes_are_skipped(user_home: Path, ours) -> None:  # type: ignore[no-untyped-def]
    """As upstream in its user namespace: a device node is not created (only
    root can), the rest of the layer is, and the tar is still rebuilt whole."""
    _configure(user_home, '[storage]\ndriver = "vfs"\n')
    src = _image(user_home, [build_tar([directory("dev"), chardev("dev/null", 1, 3), file("dev/keep", b"k")])])
    proc = ours("copy", src, "containers-storage:localhost/dev:v1")
    assert proc.returncode == 0, proc.stderr
    store = user_home / ".local" / "share" / "containers" / "storage"
    layer = json.loads((store / "vfs-layers" / "layers.json").read_text())[0]
    tree = store / "vfs" / "dir" / layer["id"]
    assert not (tree / "dev" / "null").exists() and (tree / "dev" / "keep").read_bytes() == b"k"
    proc = ours("copy", "containers-storage:localhost/dev:v1", f"dir:{user_home}/out")
    assert proc.returncode == 0, proc.stderr
    assert (user_home / "out" / layer["diff-digest"].split(":")[1]).exists()
