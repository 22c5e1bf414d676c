"""A vendor credential backend in miniature: credentials for a registry come
from ``SKOPEO_ZIP_EXAMPLE_CREDS_<HOST>=user:password``, where ``<HOST>`` is the
registry (``host[:port]``) upper-cased with every non-alphanumeric character
replaced by ``_`` (``registry.example:5000`` → ``REGISTRY_EXAMPLE_5000``)."""

from __future__ import annotations

import os
import re

from skopeo.auth import AuthProvider, Credentials
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError

ENV_PREFIX = "SKOPEO_ZIP_EXAMPLE_CREDS_"
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def variable_name(registry: str) -> str:
    return ENV_PREFIX + _NOT_ALNUM.sub("_", registry).upper()


def credentials_from_environment(registry: str) -> Credentials | None:
    """The credentials configured for *registry*, or None when the variable is unset."""
    name = variable_name(registry)
    value = os.environ.get(name)
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise SkopeoError(f"${name} must have the form user:password")
    return Credentials(user, password, source=f"${name}")


class EnvironmentCredentials(AuthProvider):
    """A lookup-only credential provider (``can_store`` stays False: ``login``
    and ``logout`` go to the next provider that can store)."""

    name = "environment"

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        return credentials_from_environment(registry)
