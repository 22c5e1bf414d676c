"""The vault as a skopeo credential backend (:class:`skopeo.auth.AuthProvider`)."""

from __future__ import annotations

from collections.abc import Sequence

from skopeo.auth import AuthProvider, Credentials
from skopeo.context import SystemContext

from .vault import Vault


class VaultProvider(AuthProvider):
    name = "vault"
    can_store = True  # login stores here, logout erases here, for the registries served

    def registries(self, ctx: SystemContext) -> Sequence[str] | None:
        # Never None ("every registry"): only what `skopeo vault-serve` named.
        return Vault().patterns()

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        vault = Vault()
        entry = vault.find(registry, repository)
        if entry is None:
            return None  # the next backend may know the registry
        return Credentials(entry.username, entry.secret, source=f"vault {vault.path}")

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        vault = Vault()
        vault.put(key, credentials.username, credentials.password)
        return f"vault {vault.path}"  # what `login --verbose` prints after "Used:"

    def erase(self, key: str, ctx: SystemContext) -> bool:
        return Vault().delete(key)

    def erase_all(self, ctx: SystemContext) -> None:
        Vault().clear()
