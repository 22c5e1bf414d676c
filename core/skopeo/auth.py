"""Credentials and the backends that keep them.

A credential backend is an :class:`AuthProvider`, registered by a plugin
through ``register_auth_providers``.  Every lookup, ``login`` and ``logout``
goes through the functions below, which ask the providers in order (pluggy's:
vendor providers first, the built-in auth-file provider of
:mod:`skopeo.authfile` last):

* **lookup** (:func:`resolve`): each provider serving the registry, until one
  answers (``None`` lets the next one answer);
* **store** (:func:`store`, ``login``) and **erase** (:func:`erase`,
  ``logout``): the first provider that serves the registry and ``can_store``
  owns it, so credentials go back to where lookups find them first;
* **erase all** (:func:`erase_all`, ``logout --all``): each storing provider
  in order, up to the first that serves every registry (the later ones are
  shadowed by it for every registry)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .errors import SkopeoError

if TYPE_CHECKING:
    from .context import SystemContext


class Credentials(NamedTuple):
    username: str = ""
    password: str = ""
    # An OAuth2 refresh token (auth file ``identitytoken``); exchanged at the token server.
    identity_token: str = ""
    # Where they came from, for ``login --verbose`` and diagnostics.
    source: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)


class AuthProvider:
    """A credential backend (a keyring, a cloud token service, a secrets
    manager, the auth files).  Override what the backend can do; the defaults
    serve every registry, know nothing and store nothing.

    *key* is what ``login``/``logout`` name: a registry ``host[:port]`` or a
    repository namespace ``host[:port]/ns/repo``."""

    # Shown by ``login --verbose`` when nothing more precise is known, and in errors.
    name = ""
    # True if store/erase/erase_all are implemented (login and logout may use it).
    can_store = False

    def registries(self, ctx: SystemContext) -> Sequence[str] | None:
        """The registries this provider serves, as ``host[:port]`` glob patterns
        (``fnmatch``: ``*.example.com``, ``registry.example:5000``); None serves
        every registry."""
        return None

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        """Credentials for *registry*, the most specific for *repository*
        (``host/ns/repo``) when known; None lets the next provider answer, an
        anonymous ``Credentials()`` ends the lookup with no credentials."""
        return None

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        """Store *credentials* for *key*; returns where they went (``login
        --verbose`` prints it)."""
        raise SkopeoError(f"credential backend {self.name or type(self).__name__} cannot store credentials")

    def erase(self, key: str, ctx: SystemContext) -> bool:
        """Remove what is stored for *key*; True if there was something."""
        return False

    def erase_all(self, ctx: SystemContext) -> None:
        """Remove everything this provider stored."""


def serves(provider: AuthProvider, registry: str, ctx: SystemContext) -> bool:
    patterns = provider.registries(ctx)
    if patterns is None:
        return True
    from fnmatch import fnmatchcase

    return any(fnmatchcase(registry, pattern) for pattern in patterns)


def providers() -> list[AuthProvider]:
    """Every registered provider, in the order they are asked."""
    from . import plugins

    return plugins.auth_providers()


# Where a session remembers what the providers returned (see resolve).
SESSION_KEY = "skopeo.auth"


def resolve(ctx: SystemContext, registry: str, repository: str | None = None) -> Credentials:
    """Credentials for a registry: ``--no-creds`` and explicit ``--creds`` win,
    then the providers serving *registry*, in order.  Within a session
    (``ctx.resources``), what the providers returned is remembered per
    registry, repository and auth file for the session's life (a login or
    logout through the session forgets it)."""
    if ctx.no_creds:
        return Credentials(source="--no-creds")
    if ctx.username is not None or ctx.password is not None:
        return Credentials(ctx.username or "", ctx.password or "", source="command line")
    if ctx.identity_token:
        return Credentials(identity_token=ctx.identity_token, source="command line")

    def ask() -> Credentials:
        for provider in providers():
            if serves(provider, registry, ctx):
                found = provider.get(registry, repository, ctx)
                if found is not None:
                    return found
        return Credentials()

    if ctx.resources is None:
        return ask()
    return ctx.resources.get((SESSION_KEY, registry, repository, ctx.auth_file), ask)


def registry_of(key: str) -> str:
    """The registry (``host[:port]``) of a credentials key."""
    return key.split("/", 1)[0]


def owner(ctx: SystemContext, key: str) -> AuthProvider:
    """The provider that stores and erases credentials for *key*."""
    registry = registry_of(key)
    for provider in providers():
        if provider.can_store and serves(provider, registry, ctx):
            return provider
    raise SkopeoError(f"no credential backend can store credentials for {registry}")


def store(ctx: SystemContext, key: str, credentials: Credentials) -> str:
    """Store credentials for *key* (``login``); returns where they went."""
    return owner(ctx, key).store(key, credentials, ctx)


def erase(ctx: SystemContext, key: str) -> bool:
    """Remove the credentials stored for *key* (``logout``); True if there were some."""
    return owner(ctx, key).erase(key, ctx)


def erase_all(ctx: SystemContext) -> None:
    """Remove every stored credential (``logout --all``)."""
    for provider in providers():
        if provider.can_store:
            provider.erase_all(ctx)
            if provider.registries(ctx) is None:
                return
