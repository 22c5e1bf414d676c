"""registries.conf ``credential-helpers``: a credential provider that, when
registries.conf lists helpers other than the default, serves every registry
through them, in their order (containers/image's ``pkg/docker/config``).

The reserved helper name ``containers-auth.json`` stands for the auth files the
core's provider reads (and for the primary auth file when storing); any other
name is a ``docker-credential-<name>`` program keyed by registry host.  With the
default list (``containers-auth.json`` alone), or an explicit ``--authfile``,
this provider serves no registry and the core's auth-file provider answers."""

from __future__ import annotations

from collections.abc import Sequence

from skopeo import authfile, log
from skopeo.auth import AuthProvider, Credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError

from . import registries_conf

AUTH_FILES = authfile.AuthFileProvider()


def helpers(ctx: SystemContext) -> list[str]:
    return registries_conf.load(ctx).credential_helpers


def _namespaced(key: str, registry: str, helper: str) -> None:
    if key != registry:
        raise SkopeoError(f"namespaced key {key!r} is not supported by credential helper {helper}")


class CredentialHelpersProvider(AuthProvider):
    name = "registries.conf credential-helpers"
    can_store = True

    def registries(self, ctx: SystemContext) -> Sequence[str] | None:
        if ctx.auth_file or helpers(ctx) == [registries_conf.AUTH_FILE_HELPER]:
            return []  # the core's auth-file provider answers (an explicit --authfile is used alone)
        return None

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        for name in helpers(ctx):
            if name == registries_conf.AUTH_FILE_HELPER:
                found = authfile.credentials_from_files(ctx, registry, repository)
            else:
                found = authfile.run_credential_helper(name, registry)
            if found is not None and not found.anonymous:
                return found
        return Credentials()  # configured helpers know nothing: no later provider is asked

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        """The first helper that stores them (upstream's order and error list)."""
        registry = key.split("/", 1)[0]
        errors = []
        for helper in helpers(ctx):
            try:
                if helper == registries_conf.AUTH_FILE_HELPER:
                    return AUTH_FILES.store(key, credentials, ctx)
                _namespaced(key, registry, helper)
                authfile.store_with_helper(helper, registry, credentials.username, credentials.password)
                return f"credential helper: {helper}"
            except SkopeoError as e:
                log.debug(f"Error storing credentials for {key} in credential helper {helper}: {e}")
                errors.append(f"{helper}: {e}")
        raise SkopeoError("; ".join(errors) or "no credential helper configured")

    def erase(self, key: str, ctx: SystemContext) -> bool:
        """Removed from every helper that has them."""
        registry = key.split("/", 1)[0]
        removed = False
        for helper in helpers(ctx):
            if helper == registries_conf.AUTH_FILE_HELPER:
                removed = AUTH_FILES.erase(key, ctx) or removed
            elif key == registry:
                removed = authfile.erase_with_helper(helper, registry) or removed
        return removed

    def erase_all(self, ctx: SystemContext) -> None:
        if registries_conf.AUTH_FILE_HELPER in helpers(ctx):
            AUTH_FILES.erase_all(ctx)
