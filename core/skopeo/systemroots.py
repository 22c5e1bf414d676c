"""TLS client contexts that trust the system's CA certificates, as
``ssl.create_default_context()`` makes them, without parsing the whole CA
bundle on every command.

``create_default_context`` has OpenSSL load its default verify paths: the
bundle file (``/etc/ssl/certs/ca-certificates.crt`` on Debian, or
``SSL_CERT_FILE``) is parsed at once, ~20 ms for 144 CAs here, on every
command that talks to a TLS registry, whether or not the handshake needs it.
The directory (``/etc/ssl/certs``, or ``SSL_CERT_DIR``) is a lookup directory
instead: OpenSSL reads from it only the issuer a handshake asks for, by the
hash of its subject name, the links ``update-ca-certificates``/``c_rehash``
keep there for every CA.

So where the directory holds as many hashed certificates as the bundle has
certificates (both written from the same set, as Debian's and Alpine's tools
write them), the directory alone is handed to OpenSSL.  Anywhere else (no such
directory, no links, counts that differ) the bundle is loaded as
``create_default_context`` loads it: never fewer roots than Python's default.
"""

from __future__ import annotations

import os
import re
import ssl
import sys

_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")
_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


def client_context() -> ssl.SSLContext:
    """``ssl.create_default_context()`` (server certificates verified, host
    names checked, ``SSLKEYLOGFILE`` honoured), the system roots read lazily
    where they can be."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    paths = ssl.get_default_verify_paths()  # SSL_CERT_FILE / SSL_CERT_DIR already applied
    lazy = lookup_directory(paths.cafile, paths.capath)
    if lazy is not None:
        ctx.load_verify_locations(capath=lazy)
    else:
        ctx.load_default_certs()
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:  # as create_default_context
        ctx.keylog_filename = keylog
    return ctx


def lookup_directory(cafile: str | None, capath: str | None) -> str | None:
    """*capath* when OpenSSL can find every root there by itself: it holds
    hashed certificates, as many as the *cafile* bundle (if there is one)
    holds; else None (load the defaults)."""
    if not capath:
        return None
    try:
        hashed = sum(1 for name in os.listdir(capath) if _HASHED_NAME.fullmatch(name))
    except OSError:
        return None
    if not hashed:
        return None
    if cafile:
        try:
            with open(cafile, "rb") as f:
                bundled = f.read().count(_PEM_CERT)
        except OSError:
            return None
        if bundled != hashed:
            return None
    return capath
