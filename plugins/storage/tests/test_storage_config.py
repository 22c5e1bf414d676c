"""storage.conf: which files, in which order, and what they mean; additional
(read-only) image stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storage_helpers import Store

from skopeo.errors import SkopeoError
from skopeo.testing.fixtures import fatal_message
from skopeo_storage import config


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private configuration tree: user, admin and system directories."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for var in ("CONTAINERS_STORAGE_CONF", "CONTAINERS_STORAGE_CONF_OVERRIDE", "STORAGE_DRIVER", "STORAGE_OPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(config, "ADMIN_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setattr(config, "SYSTEM_CONFIG_DIR", str(tmp_path / "usr"))
    for d in ("home/.config/containers", "etc", "usr"):
        (tmp_path / d).mkdir(parents=True)
    return tmp_path


def test_first_existing_main_file_then_drop_ins(env: Path) -> None:
    (env / "usr" / "storage.conf").write_text('[storage]\ndriver = "vfs"\ngraphroot = "/sys-root"\n')
    (env / "etc" / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
    (env / "etc" / "storage.conf.d").mkdir()
    (env / "etc" / "storage.conf.d" / "10-root.conf").write_text('[storage]\ngraphroot = "/dropin-root"\n')
    (env / "usr" / "storage.rootful.conf.d").mkdir()
    (env / "usr" / "storage.rootful.conf.d" / "20-run.conf").write_text('[storage]\nrunroot = "/dropin-run"\n')
    files, _ = config.config_files(uid=0)
    assert files == [str(env / "etc" / "storage.conf"), str(env / "etc" / "storage.conf.d" / "10-root.conf"),
                     str(env / "usr" / "storage.rootful.conf.d" / "20-run.conf")]
    opts = config.load_store_options(uid=0)
    assert (opts.driver, opts.graph_root, opts.run_root) == ("overlay", "/dropin-root", "/dropin-run")
    # The user's file wins over both, as upstream main reads it first even for root.
    (env / "home" / ".config" / "containers" / "storage.conf").write_text('[storage]\ndriver = "vfs"\n')
    assert config.load_store_options(uid=0).driver == "vfs"


def test_environment_overrides(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = env / "explicit.conf"
    explicit.write_text('[storage]\ndriver = "overlay"\n[storage.options]\nadditionalimagestores = ["/ro1"]\n'
                        '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n')
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(explicit))
    opts = config.load_store_options(uid=0)
    assert opts.driver_options == ["imagestore=/ro1", "overlay.mount_program=/usr/bin/fuse-overlayfs"]
    monkeypatch.setenv("STORAGE_DRIVER", "vfs")
    monkeypatch.setenv("STORAGE_OPTS", "vfs.ignore_chown_errors=true")
    opts = config.load_store_options(uid=0)
    assert (opts.driver, opts.driver_options) == ("vfs", ["vfs.ignore_chown_errors=true"])
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(env / "missing.conf"))
    with pytest.raises(SkopeoError, match="no such file or directory"):
        config.load_store_options(uid=0)


def test_slices_replace_unless_appended(env: Path) -> None:
    (env / "etc" / "storage.conf").write_text('[storage.options]\nadditionalimagestores = ["/a"]\n')
    (env / "etc" / "storage.conf.d").mkdir()
    (env / "etc" / "storage.conf.d" / "1.conf").write_text('[storage.options]\nadditionalimagestores = ["/b", {append = true}]\n')
    assert config.load_store_options(uid=0).driver_options == ["imagestore=/a", "imagestore=/b"]
    (env / "etc" / "storage.conf.d" / "2.conf").write_text('[storage.options]\nadditionalimagestores = ["/c"]\n')
    assert config.load_store_options(uid=0).driver_options == ["imagestore=/c"]


def test_rootless_defaults(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "use_per_user_storage", lambda: True)
    monkeypatch.setenv("XDG_DATA_HOME", str(env / "data"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(env))
    opts = config.load_store_options(uid=1000)
    assert (opts.graph_root, opts.run_root) == (str(env / "data" / "containers" / "storage"),
                                                 str(env / "containers"))
    (env / "etc" / "storage.conf").write_text('[storage]\nrootless_storage_path = "$HOME/$UID/store"\n')
    assert config.load_store_options(uid=1000).graph_root == f"{env}/home/1000/store"
    assert config.config_files(uid=1000)[0] == [str(env / "etc" / "storage.conf")]


def test_broken_file_is_named(env: Path) -> None:
    (env / "etc" / "storage.conf").write_text("[storage\n")
    with pytest.raises(SkopeoError, match=f'decode configuration "{env}/etc/storage.conf"'):
        config.load_store_options(uid=0)


def test_additional_image_store_is_read_only(make_store, oci_images: Path, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Images of an additional store are found and read through the main store,
    never written: delete refuses, and a write lands in the main store."""
    shared: Store = make_store("vfs", "shared")
    run_skopeo("copy", f"oci:{oci_images}:three", shared.ref("localhost/shared:v1"), check=True)
    main: Store = make_store("vfs", "main")
    spec = f"[vfs@{main.root}+{main.run}:vfs.imagestore={shared.root}]"
    ref = f"containers-storage:{spec}localhost/shared:v1"
    proc = run_skopeo("inspect", ref, check=True)
    assert json.loads(proc.stdout)["Name"] == "localhost/shared"
    run_skopeo("copy", ref, f"dir:{tmp_path}/out", check=True)
    before = (shared.root / "vfs-images" / "images.json").read_bytes()
    proc = run_skopeo("delete", ref)
    assert proc.returncode == 1
    assert "read-only" in fatal_message(proc.stderr)
    run_skopeo("copy", f"oci:{oci_images}:one", f"containers-storage:{spec}localhost/new:v1", check=True)
    assert (shared.root / "vfs-images" / "images.json").read_bytes() == before
    assert "localhost/new:v1" in (main.root / "vfs-images" / "images.json").read_text()


@pytest.mark.parametrize(("present", "priority", "chosen", "logged"), [
    (["overlay"], [], "overlay", True),  # prior state decides, and says so (upstream's info line)
    (["vfs"], ["vfs", "overlay"], "vfs", True),
    ([], ["vfs"], "vfs", False),
])
def test_driver_chosen_from_prior_state(tmp_path: Path, capsys: pytest.CaptureFixture[str], present: list[str],
                                         priority: list[str], chosen: str, logged: bool) -> None:
    from skopeo_storage.drivers import choose_driver

    for name in present:
        (tmp_path / name).mkdir()
    assert choose_driver("", str(tmp_path), priority) == chosen
    line = f"level=info msg=\"[graphdriver] using prior storage driver: {chosen}\"\n"
    assert capsys.readouterr().err.endswith(line) == logged
