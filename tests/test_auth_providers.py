"""Credential providers: the order they are asked in, which registries each
serves, who stores and erases, and the built-in auth-file provider behind the
same path (real auth files in a temporary directory)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from skopeo import auth, plugins
from skopeo.auth import AuthProvider, Credentials
from skopeo.authfile import AuthFileProvider
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.hookspecs import hookimpl


class Vault(AuthProvider):
    """A storing provider serving the registries its patterns name."""

    can_store = True

    def __init__(self, name: str, patterns: Sequence[str] | None) -> None:
        self.name = name
        self.patterns = patterns
        self.stored: dict[str, Credentials] = {}
        self.erased_all = False

    def registries(self, ctx: SystemContext) -> Sequence[str] | None:
        return self.patterns

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        for key in (repository, registry):
            if key in self.stored:
                return self.stored[key]._replace(source=self.name)
        return None

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        self.stored[key] = credentials
        return self.name

    def erase(self, key: str, ctx: SystemContext) -> bool:
        return self.stored.pop(key, None) is not None

    def erase_all(self, ctx: SystemContext) -> None:
        self.stored.clear()
        self.erased_all = True


class LookupOnly(AuthProvider):
    name = "lookup-only"

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        return Credentials("env", "secret", source=self.name) if registry == "env.example" else None


def provider_plugin(provider: AuthProvider, **marks: bool) -> object:
    class Plugin:
        @hookimpl(**marks)
        def register_auth_providers(self, register: Callable[[AuthProvider], None]) -> None:
            register(provider)

    return Plugin()


@pytest.fixture
def manager() -> Iterator[Callable[..., None]]:
    """Install a manager with the built-ins and the given provider plugins."""

    def install(*plugin_objects: object) -> None:
        pm = plugins.new_manager(load_entry_points=False)
        for p in plugin_objects:
            pm.register(p)
        plugins.set_manager(pm)

    yield install
    plugins.set_manager(None)


@pytest.fixture
def ctx(tmp_path: Path) -> SystemContext:
    return SystemContext(auth_file=str(tmp_path / "auth.json"))


def test_order_vendor_first_then_tryfirst_and_builtin_last(manager: Callable[..., None]) -> None:
    a, b = Vault("a", None), Vault("b", None)
    manager(provider_plugin(a, tryfirst=True), provider_plugin(b))
    names = [p.name for p in auth.providers()]
    assert names == ["a", "b", "auth files"]
    assert isinstance(auth.providers()[-1], AuthFileProvider)


def test_lookup_asks_serving_providers_in_order(manager: Callable[..., None], ctx: SystemContext) -> None:
    ecr = Vault("ecr", ["*.ecr.example"])
    ecr.stored["123.ecr.example"] = Credentials("AWS", "token")
    manager(provider_plugin(LookupOnly()), provider_plugin(ecr))
    assert auth.resolve(ctx, "123.ecr.example") == Credentials("AWS", "token", source="ecr")
    assert auth.resolve(ctx, "env.example").source == "lookup-only"
    # Nobody knows it: the auth file (missing here) gives no credentials.
    assert auth.resolve(ctx, "other.example").anonymous
    # Explicit credentials and --no-creds win over every provider.
    assert auth.resolve(SystemContext(username="u", password="p"), "123.ecr.example").username == "u"
    assert auth.resolve(SystemContext(no_creds=True), "123.ecr.example").anonymous


def test_store_and_erase_go_to_the_first_storing_provider_serving_the_registry(
        manager: Callable[..., None], ctx: SystemContext) -> None:
    ecr = Vault("ecr", ["*.ecr.example"])
    manager(provider_plugin(LookupOnly()), provider_plugin(ecr))
    assert auth.store(ctx, "123.ecr.example/ns/repo", Credentials("u", "p")) == "ecr"
    assert ecr.stored == {"123.ecr.example/ns/repo": Credentials("u", "p")}
    assert auth.resolve(ctx, "123.ecr.example", "123.ecr.example/ns/repo").source == "ecr"
    # The lookup-only provider serves every registry but cannot store: the auth file does.
    assert auth.store(ctx, "env.example", Credentials("u2", "p2")) == ctx.auth_file
    assert json.loads(Path(str(ctx.auth_file)).read_text())["auths"] == {"env.example": {"auth": "dTI6cDI="}}
    assert auth.erase(ctx, "123.ecr.example/ns/repo") is True
    assert auth.erase(ctx, "123.ecr.example/ns/repo") is False
    assert auth.erase(ctx, "env.example") is True
    assert json.loads(Path(str(ctx.auth_file)).read_text())["auths"] == {}


def test_erase_all_stops_at_a_provider_serving_every_registry(manager: Callable[..., None],
                                                              ctx: SystemContext) -> None:
    ecr, everything, shadowed = Vault("ecr", ["*.ecr.example"]), Vault("all", None), Vault("shadowed", None)
    manager(provider_plugin(ecr, tryfirst=True), provider_plugin(shadowed), provider_plugin(everything))
    assert [p.name for p in auth.providers()] == ["ecr", "all", "shadowed", "auth files"]
    auth.store(ctx, "x.example", Credentials("u", "p"))
    assert "x.example" in everything.stored
    auth.erase_all(ctx)
    assert ecr.erased_all and everything.erased_all
    assert not shadowed.erased_all


def test_no_storing_provider(manager: Callable[..., None], ctx: SystemContext) -> None:
    pm = plugins.new_manager(load_entry_points=False)
    pm.unregister(name="skopeo.authfile")
    pm.register(provider_plugin(LookupOnly()))
    plugins.set_manager(pm)
    with pytest.raises(SkopeoError, match=r"no credential backend can store credentials for x\.example"):
        auth.store(ctx, "x.example", Credentials("u", "p"))


def test_builtin_provider_keeps_namespaced_keys(manager: Callable[..., None], ctx: SystemContext) -> None:
    manager()
    auth.store(ctx, "reg.example/team/app", Credentials("team", "pw"))
    auth.store(ctx, "reg.example", Credentials("all", "pw2"))
    assert auth.resolve(ctx, "reg.example", "reg.example/team/app").username == "team"
    assert auth.resolve(ctx, "reg.example", "reg.example/other/app").username == "all"
    assert auth.erase(ctx, "reg.example/team/app") is True
    assert auth.resolve(ctx, "reg.example", "reg.example/team/app").username == "all"


def test_entry_point_providers_are_found_on_demand(tmp_path: Path) -> None:
    """The docker plugin's registries.conf provider comes through the hook (the
    process-wide manager loads it when providers are asked for)."""
    plugins.set_manager(None)
    try:
        names = [type(p).__name__ for p in auth.providers()]
    finally:
        plugins.set_manager(None)
    assert "CredentialHelpersProvider" in names and names[-1] == "AuthFileProvider"
