"""The plugin system: loading, restriction, unknown hooks, registration."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skopeo import plugins
from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError, PluginError
from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport


@pytest.fixture
def isolated_manager() -> Iterator[Any]:
    pm = plugins.new_manager(load_entry_points=False)
    plugins.set_manager(pm)
    yield pm
    plugins.set_manager(None)


def test_builtin_auth_provider_registered_like_a_plugin(isolated_manager: Any) -> None:
    assert isolated_manager.has_plugin("skopeo.authfile")


def test_unknown_transport_names_package(isolated_manager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A first-party name whose distribution is not installed (every real one may be).
    monkeypatch.setitem(plugins.FIRST_PARTY_TRANSPORTS, "notyet", "skopeo-notyet")
    with pytest.raises(InvalidReferenceError) as e:
        plugins.parse_image_name("notyet:/repo")
    assert "the skopeo-notyet plugin is not installed: pip install skopeo-notyet" in e.value.message
    with pytest.raises(InvalidReferenceError) as e:
        plugins.parse_image_name("dir:/x")
    assert "the skopeo-dir plugin is installed but not loaded" in e.value.message
    with pytest.raises(InvalidReferenceError, match=r'unknown transport "nope"$'):
        plugins.parse_image_name("nope:x")


def test_registered_transport_is_found(isolated_manager: Any) -> None:
    class Fake(Transport):
        name = "fake"

        def parse_reference(self, text: str) -> Any:
            return ("parsed", text)

    class Plugin:
        @hookimpl
        def register_transports(self, register: Callable[[Transport], None]) -> None:
            register(Fake())

    isolated_manager.register(Plugin())
    plugins.set_manager(isolated_manager)
    assert plugins.parse_image_name("fake:abc") == ("parsed", "abc")


def test_duplicate_transport_fails(isolated_manager: Any) -> None:
    class Fake(Transport):
        name = "dup"

        def parse_reference(self, text: str) -> Any:
            return text

    class Plugin:
        @hookimpl
        def register_transports(self, register: Callable[[Transport], None]) -> None:
            register(Fake())
            register(Fake())

    isolated_manager.register(Plugin())
    plugins.set_manager(isolated_manager)
    with pytest.raises(PluginError, match="registered twice"):
        plugins.transports()


def test_auth_provider_first_answer_wins(isolated_manager: Any) -> None:
    from skopeo.auth import Credentials, resolve

    class Vendor:
        @hookimpl
        def get_credentials(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
            return Credentials("vendor", "token", source="vendor") if registry == "vendor.example" else None

    isolated_manager.register(Vendor())
    assert resolve(SystemContext(auth_file="/nonexistent"), "vendor.example").username == "vendor"
    assert resolve(SystemContext(auth_file="/nonexistent"), "other.example").anonymous
    # Explicit credentials and --no-creds win over every provider.
    assert resolve(SystemContext(username="u", password="p"), "vendor.example").username == "u"
    assert resolve(SystemContext(no_creds=True), "vendor.example").anonymous


def test_unknown_hook_fails_at_startup() -> None:
    pm = plugins.new_manager(load_entry_points=False)

    class Typo:
        @hookimpl
        def register_transport(self, register: Any) -> None:  # missing "s"
            pass

    pm.register(Typo())
    with pytest.raises(Exception, match="register_transport"):
        pm.check_pending()


def test_env_restricts_entry_points() -> None:
    code = "from skopeo import plugins; print(sorted(plugins.transports()))"
    out = subprocess.run([sys.executable, "-c", code], env={"SKOPEO_PLUGINS": "dir", "PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['dir']"
    out = subprocess.run([sys.executable, "-c", code], env={"SKOPEO_PLUGINS": "", "PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugins_load_lazily_after_first_full_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Once the cache knows which plugin provides what, a command that needs one
    transport imports only that plugin; the first run (new cache) loads all."""
    code = (
        "import sys; from skopeo import plugins; plugins.get_transport('dir'); "
        "print(sorted(m for m in ('skopeo_dir', 'skopeo_oci', 'skopeo_docker') if m in sys.modules))"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": ""}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert first.strip() == "['skopeo_dir', 'skopeo_docker', 'skopeo_oci']"
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert second.strip() == "['skopeo_dir']"
    # Hooks still reach every plugin implementing them.
    creds = "from skopeo import plugins; pm = plugins.hook_manager('get_credentials'); print(pm.has_plugin('docker'))"
    out = subprocess.run([sys.executable, "-c", creds], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_a_copy_loads_only_the_plugins_of_its_two_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The CLI's copy between dir: and oci: imports those two plugins only: not
    every transport for the help text's list, nor a signing plugin when
    nothing is signed (start-up time of every command)."""
    src = tmp_path / "src"
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sorted(m for m in sys.modules if m.startswith('skopeo_')"
        " and '.' not in m))))\n"
        f"sys.argv = ['skopeo', '--insecure-policy', 'copy', 'dir:{src}', 'oci:{tmp_path / 'out'}:t']\n"
        "from skopeo.cli import entry\n"
        "entry()\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": ""}
    for _ in range(2):  # the first run builds the plugin index (loading every plugin)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr  # no such directory: what matters is what was loaded
    assert proc.stdout.split() == ["skopeo_dir", "skopeo_oci"], proc.stdout
