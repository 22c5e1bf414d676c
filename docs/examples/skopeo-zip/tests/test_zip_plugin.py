"""How the plugin fits into skopeo: loading through the entry point (and
``$SKOPEO_PLUGINS``), the credential provider's place before the auth files,
and start-up failure for a plugin that implements a hook skopeo does not define."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest

import skopeo_zip
from skopeo import auth, plugins
from skopeo.context import SystemContext
from skopeo.errors import PluginError, SkopeoError
from skopeo_zip.credentials import variable_name

RunSkopeo = Callable[..., subprocess.CompletedProcess[str]]
REGISTRY = "registry.example:5000"
ENV = "SKOPEO_ZIP_EXAMPLE_CREDS_REGISTRY_EXAMPLE_5000"


# --- loading -------------------------------------------------------------------------
@pytest.mark.parametrize("selection", ["dir,oci", ""])
def test_excluded_plugin_makes_zip_an_unknown_transport(
    tmp_path: Path, sample_layout: Path, zip_image: Path, run_skopeo: RunSkopeo, selection: str
) -> None:
    env = {"SKOPEO_PLUGINS": selection}
    proc = run_skopeo("inspect", f"zip:{zip_image}", env=env)
    assert proc.returncode == 1
    assert f'Error parsing image name \\"zip:{zip_image}\\": Invalid image name \\"zip:{zip_image}\\", ' \
        'unknown transport \\"zip\\"' in proc.stderr
    assert "zip" not in run_skopeo("inspect", "--help", env=env).stdout
    if selection:
        target = tmp_path / "new.zip"
        proc = run_skopeo("copy", f"oci:{sample_layout}:hello", f"zip:{target}", env=env)
        assert proc.returncode == 1
        assert f"Invalid destination name zip:{target}: Invalid image name" in proc.stderr
        assert not target.exists()


def test_selected_plugin_is_enough(zip_image: Path, run_skopeo: RunSkopeo) -> None:
    proc = run_skopeo("inspect", "--raw", f"zip:{zip_image}", env={"SKOPEO_PLUGINS": "zip"}, check=True)
    assert json.loads(proc.stdout)["schemaVersion"] == 2
    assert "zip" in run_skopeo("inspect", "--help", check=True).stdout


def test_entry_point_registers_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKOPEO_PLUGINS", "zip")
    pm = plugins.new_manager()
    assert pm.get_plugin("zip") is skopeo_zip
    assert pm.get_plugin("skopeo.authfile") is not None  # built-ins load regardless


# --- credentials -------------------------------------------------------------------
def write_auth_file(path: Path, user: str, password: str) -> Path:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {REGISTRY: {"auth": token}}}))
    return path


@pytest.fixture(params=["registered-by-test", "entry-point"])
def zip_plugin_loaded(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, manager: Callable[..., pluggy.PluginManager]
) -> None:
    """The plugin registered the way tests do it, and the way an installation does."""
    if request.param == "registered-by-test":
        manager(skopeo_zip)
    else:
        monkeypatch.setenv("SKOPEO_PLUGINS", "zip")
        plugins.set_manager(None)


@pytest.mark.usefixtures("zip_plugin_loaded")
def test_provider_answers_before_the_auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = SystemContext(auth_file=str(write_auth_file(tmp_path / "auth.json", "file-user", "file-pass")))
    monkeypatch.setenv(ENV, "env-user:env:pass")
    creds = auth.resolve(ctx, REGISTRY, f"{REGISTRY}/ns/repo")
    assert (creds.username, creds.password, creds.source) == ("env-user", "env:pass", f"${ENV}")
    # Other registries, and this one once the variable is gone, fall through to the auth file.
    assert auth.resolve(ctx, "other.example").anonymous
    monkeypatch.delenv(ENV)
    creds = auth.resolve(ctx, REGISTRY)
    assert (creds.username, creds.password, creds.source) == ("file-user", "file-pass", ctx.auth_file)


@pytest.mark.usefixtures("zip_plugin_loaded")
def test_command_line_credentials_still_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "env-user:env-pass")
    creds = auth.resolve(SystemContext(username="cli-user", password="cli-pass"), REGISTRY)
    assert (creds.username, creds.source) == ("cli-user", "command line")
    assert auth.resolve(SystemContext(no_creds=True), REGISTRY).anonymous


@pytest.mark.usefixtures("zip_plugin_loaded")
@pytest.mark.parametrize("value", ["no-colon", ":password-only"])
def test_malformed_variable_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(SkopeoError, match=rf"^\${ENV} must have the form user:password$"):
        auth.resolve(SystemContext(), REGISTRY)


def test_variable_names() -> None:
    assert variable_name("registry.example:5000") == ENV
    assert variable_name("docker.io") == "SKOPEO_ZIP_EXAMPLE_CREDS_DOCKER_IO"
    assert variable_name("[::1]:5000") == "SKOPEO_ZIP_EXAMPLE_CREDS____1__5000"


# --- a plugin implementing a hook skopeo does not define ------------------------------
@pytest.fixture
def misspelled_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real installed plugin (module + dist-info with the entry point) whose hook
    name is misspelled: ``register_transport`` instead of ``register_transports``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "misspelled_plugin.py").write_text(textwrap.dedent("""
        from skopeo.hookspecs import hookimpl

        @hookimpl
        def register_transport(register):
            raise AssertionError("never called")
    """))
    dist = site / "misspelled_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: misspelled-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[skopeo.plugins]\nmisspelled = misspelled_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    # The core caches the entry-point list per sys.path state; keep that cache private.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "misspelled_plugin", raising=False)
    return site


def test_unknown_hook_fails_new_manager(misspelled_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKOPEO_PLUGINS", "zip,misspelled")
    with pytest.raises(PluginError, match="implements an unknown hook") as info:
        plugins.new_manager()
    assert "register_transport" in info.value.message
    monkeypatch.setenv("SKOPEO_PLUGINS", "zip")
    plugins.new_manager()  # fine without it


def test_unknown_hook_fails_the_cli_at_start_up(
    misspelled_plugin: Path, zip_image: Path, run_skopeo: RunSkopeo
) -> None:
    env = {"PYTHONPATH": str(misspelled_plugin), "SKOPEO_PLUGINS": "dir,oci,zip,misspelled"}
    proc = run_skopeo("inspect", f"zip:{zip_image}", env=env)
    assert proc.returncode == 1
    assert "level=fatal" in proc.stderr and "implements an unknown hook" in proc.stderr
    assert "Traceback" not in proc.stderr
