"""Credentials as the auth hook returns them."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

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


# Where a session remembers what the providers returned (see resolve).
SESSION_KEY = "skopeo.auth"


def resolve(ctx: SystemContext, registry: str, repository: str | None = None) -> Credentials:
    """Credentials for a registry: ``--no-creds`` and explicit ``--creds`` win,
    then the auth providers (vendor plugins first, the auth files last).
    Within a session (``ctx.resources``), what the providers returned is
    remembered per registry, repository and auth file for the session's life
    (a login or logout through the session forgets it)."""
    if ctx.no_creds:
        return Credentials(source="--no-creds")
    if ctx.username is not None or ctx.password is not None:
        return Credentials(ctx.username or "", ctx.password or "", source="command line")
    if ctx.identity_token:
        return Credentials(identity_token=ctx.identity_token, source="command line")

    def ask() -> Credentials:
        from . import plugins

        found = plugins.hook_manager("get_credentials").hook.get_credentials(
            registry=registry, repository=repository, ctx=ctx)
        return found if found is not None else Credentials()

    if ctx.resources is None:
        return ask()
    return ctx.resources.get((SESSION_KEY, registry, repository, ctx.auth_file), ask)
