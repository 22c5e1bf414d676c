"""skopeo-zip: an example third-party plugin for skopeo (Python).

It adds two things through the ``skopeo.plugins`` entry point:

* the ``zip:PATH`` transport (an image stored in a single .zip file), and
* a credential provider answering from ``$SKOPEO_ZIP_EXAMPLE_CREDS_<HOST>``.

This module is imported at every ``skopeo`` start-up, so it stays light: the
transport's heavy part (:mod:`zipfile` and everything that touches an archive)
lives in :mod:`skopeo_zip.archive`, imported only when a ``zip:`` image is opened.
"""

from __future__ import annotations

from collections.abc import Callable

from skopeo.auth import AuthProvider
from skopeo.hookspecs import hookimpl
from skopeo.transport import Transport

from .credentials import EnvironmentCredentials
from .transport import ZipTransport


@hookimpl
def register_transports(register: Callable[[Transport], None]) -> None:
    register(ZipTransport())


@hookimpl
def register_auth_providers(register: Callable[[AuthProvider], None]) -> None:
    # Lookups only (it cannot store what ``login`` produces).  The built-in
    # auth-file provider is registered with trylast=True, so this one is always
    # asked before it; answering None lets the next provider answer.
    register(EnvironmentCredentials())
