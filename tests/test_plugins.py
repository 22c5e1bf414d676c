"""The plugin system: loading, restriction, unknown hooks, registration."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skopeo import plugins
from skopeo.errors import InvalidReferenceError, PluginError
from skopeo.hookspecs import hookimpl
from skopeo.plugin_index import EntryPoint
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
    creds = ("from skopeo import plugins; pm = plugins.hook_manager('register_auth_providers'); "
             "print(pm.has_plugin('docker'))")
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


def test_register_hooks_go_through_pluggy(isolated_manager: Any) -> None:
    """register_transports is called through pluggy: a plugin's tryfirst impl
    registers before the others, and a hook wrapper sees each plugin's call."""
    order: list[str] = []
    wrapped: list[str] = []

    def transport(name: str) -> Transport:
        class Named(Transport):
            def parse_reference(self, text: str) -> Any:
                return (name, text)

        t = Named()
        t.name = name
        return t

    class Late:
        @hookimpl
        def register_transports(self, register: Callable[[Transport], None]) -> None:
            order.append("late")
            register(transport("late"))

    class Early:
        @hookimpl(tryfirst=True)
        def register_transports(self, register: Callable[[Transport], None]) -> None:
            order.append("early")
            register(transport("early"))

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_transports(self, register: Callable[[Transport], None]) -> Any:
            result = yield
            wrapped.append(f"after {len(order)}")
            return result

    # Registered last, Late would be called first (pluggy's LIFO) but for Early's tryfirst.
    isolated_manager.register(Early(), name="early")
    isolated_manager.register(Late(), name="late")
    isolated_manager.register(Wrapper(), name="wrapper")
    plugins.set_manager(isolated_manager)
    assert sorted(plugins.transports()) == ["early", "late"]
    # One call per plugin, each inside the wrapper; the tryfirst plugin first.
    assert order == ["early", "late"]
    assert wrapped == ["after 1", "after 2"]


def test_lazy_loads_what_a_wrapper_needs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The index records the hooks a plugin wraps, so an on-demand load of one
    transport also loads the plugins wrapping register_transports."""
    from skopeo.plugins import _Lazy

    pm = plugins.new_manager(load_entry_points=False)
    index = {"dir": {"hooks": ["register_transports"], "wrappers": [], "transports": ["dir"]},
             "oci": {"hooks": ["register_transports"], "wrappers": ["register_transports"], "transports": ["oci"]},
             "docker": {"hooks": ["register_transports"], "wrappers": [], "transports": ["docker"]}}
    eps = [EntryPoint(n, f"skopeo_{n}") for n in index]
    lazy = _Lazy(pm, eps, index)
    assert lazy.transport("dir") is not None
    assert sorted(lazy.pending) == ["docker"]


CORE_COMMANDS = ["copy", "delete", "help", "inspect", "list-tags", "manifest-digest", "sync"]


def test_core_only_lists_core_commands_and_names_packages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without plugins (SKOPEO_PLUGINS=), help lists the core's commands only;
    a first-party plugin's command, or its API call, names the package."""
    import os

    env = {**os.environ, "SKOPEO_PLUGINS": "", "XDG_CACHE_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "skopeo"]
    out = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True, check=True).stdout
    listed = out.split("Available Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in listed] == CORE_COMMANDS
    for command, package in (("login", "skopeo-docker"), ("standalone-verify", "skopeo-gpg"),
                             ("generate-sigstore-key", "skopeo-sigstore")):
        proc = subprocess.run([*run, command, "x"], env=env, capture_output=True, text=True)
        assert proc.returncode == 1 and proc.stdout == ""
        assert f'unknown command \\"{command}\\" (the {package} plugin is installed but not loaded' in proc.stderr
    code = "from skopeo import api\ntry:\n    api.standalone_sign(b'', 'x', 'y')\nexcept Exception as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("standalone_sign needs a plugin that provides it (the skopeo-gpg plugin is installed")


def test_missing_command_and_api_call_name_the_package(isolated_manager: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(plugins.FIRST_PARTY_COMMANDS, "frob", "skopeo-notyet")
    monkeypatch.setitem(plugins.FIRST_PARTY_API_CALLS, "frob", "skopeo-notyet")
    assert plugins.missing_command("frob") == 'unknown command "frob" (the skopeo-notyet plugin is not installed: ' \
                                              'pip install skopeo-notyet)'
    with pytest.raises(PluginError, match=r"^frob needs a plugin that provides it \(the skopeo-notyet plugin is not "
                                          r"installed: pip install skopeo-notyet\)$"):
        plugins.api_call("frob")


def test_api_calls_come_through_the_hook(isolated_manager: Any) -> None:
    """A plugin's register_api_calls implementation serves skopeo.api; a second
    registration of the same call is refused."""
    from skopeo import api

    class Signer:
        @hookimpl
        def register_api_calls(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
            register("standalone_sign", lambda manifest, ref, key, passphrase: b"signed:" + manifest)

    isolated_manager.register(Signer())
    plugins.set_manager(isolated_manager)
    assert api.standalone_sign(b"m", "ref", "key") == b"signed:m"
    isolated_manager.register(Signer())
    plugins.set_manager(isolated_manager)
    with pytest.raises(PluginError, match="registered twice"):
        api.standalone_sign(b"m", "ref", "key")


def test_a_plugin_command_loads_only_its_plugin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The index records command names: once it is written, ``skopeo login``
    finds its command in skopeo-docker without importing another plugin's
    commands; the other plugins it imports are those the login itself asks
    (credential providers, the API call's providers), never a plugin with
    transports only; a core command imports no typer."""
    import os

    auth_file = tmp_path / "auth.json"
    auth_file.write_text('{"auths": {"reg.example": {"auth": "dTpw"}}}')
    code = ("import sys; from skopeo.cli import main; code = main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.startswith('skopeo_') and m.count('.') < 2 "
            "and m.endswith(('.commands', '.transport')) or m.startswith('skopeo_') and '.' not in m), "
            "'typer' in sys.modules)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("SKOPEO_PLUGINS", None)

    def run(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                              check=True, cwd=tmp_path)
        return proc.stdout.splitlines()[-1]

    login = ("login", "--authfile", str(auth_file), "--get-login", "reg.example")
    run(*login)  # the first run loads every plugin and writes the index
    run("--help")  # every plugin's command names are recorded
    imported, typer_loaded = run(*login).rsplit(" ", 1)
    modules = set(ast.literal_eval(imported))
    assert typer_loaded == "True"
    assert {m for m in modules if m.endswith(".commands")} == {"skopeo_docker.commands"}
    assert "skopeo_docker" in modules and not modules & {"skopeo_oci", "skopeo_dir", "skopeo_archive",
                                                           "skopeo_storage", "skopeo_tarball"}
    assert run("manifest-digest", str(auth_file)) == "[] False"


def test_a_broken_plugin_fails_every_later_use(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A plugin that cannot be imported does not stop the others from being
    registered in full (whatever the order), but its error is raised by the
    load and by every later use of the manager: a broken installation never
    looks like a missing plugin, even after help swallowed the first error."""
    from skopeo.plugins import _Lazy

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the index it writes
    pm = plugins.new_manager(load_entry_points=False)
    eps = [EntryPoint("dir", "skopeo_dir"), EntryPoint("broken", "no_such_module_for_skopeo"),
           EntryPoint("oci", "skopeo_oci")]
    lazy = _Lazy(pm, eps, {})
    broken = r"^loading plugin 'broken' \(no_such_module_for_skopeo\): "
    with pytest.raises(PluginError, match=broken):
        lazy.transport("dir")
    assert {"dir", "oci"} <= set(lazy.transports) and list(lazy.pending) == ["broken"]
    for use in (lambda: lazy.transport("dir"), lambda: lazy.for_hook("register_transports"), lazy.load_all,
                lambda: lazy.commands("login")):
        with pytest.raises(PluginError, match=broken):
            use()
