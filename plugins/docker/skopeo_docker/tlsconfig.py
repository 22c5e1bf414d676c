"""TLS settings for a registry: the certificate directory (``--cert-dir`` or the
first existing certs.d directory for ``host[:port]``), ``*.crt`` CAs added to the
system pool, ``*.cert``/``*.key`` client pairs, and verification on or off."""

from __future__ import annotations

import os
import ssl

from skopeo import log
from skopeo.errors import SkopeoError
from skopeo.tlsdetails import TLSDetails

SYSTEM_CERT_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def cert_dir_for(host_port: str, cert_dir: str | None) -> str:
    """``--cert-dir`` wins; else the first existing per-host directory under the
    user's and the system certs.d roots (missing or unreadable ones are skipped)."""
    if cert_dir:
        return cert_dir
    roots = [os.path.join(os.path.expanduser("~"), ".config", "containers", "certs.d"), *SYSTEM_CERT_DIRS]
    full = ""
    for root in roots:
        full = os.path.join(root, host_port)
        try:
            os.stat(full)
        except FileNotFoundError:
            continue
        except PermissionError as e:
            log.debug(f"error accessing certs directory due to permissions: {e}")
            continue
        break
    return full


def scan_cert_dir(directory: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(CA files, (cert, key) client pairs) in *directory*, with upstream's checks."""
    if not directory:
        return [], []
    log.debug(f"Looking for TLS certificates and private keys in {directory}")
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return [], []
    except NotADirectoryError:
        return [], []
    except PermissionError as e:
        log.debug(f"Skipping scan of {directory} due to permission error: {e}")
        return [], []
    cas: list[str] = []
    pairs: list[tuple[str, str]] = []
    present = set(names)
    for name in names:
        full = os.path.join(directory, name)
        if name.endswith(".crt"):
            log.debug(f" crt: {full}")
            cas.append(full)
        if name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            log.debug(f" cert: {full}")
            if key not in present:
                raise SkopeoError(
                    f"missing key {key} for client certificate {name}. "
                    "Note that CA certificates should use the extension .crt"
                )
            pairs.append((full, os.path.join(directory, key)))
        if name.endswith(".key"):
            cert = name[: -len(".key")] + ".cert"
            log.debug(f" key: {full}")
            if cert not in present:
                raise SkopeoError(f"missing client certificate {cert} for key {name}")
    return cas, pairs


def ssl_context(directory: str, skip_verify: bool, details: TLSDetails | None = None) -> ssl.SSLContext:
    """An SSL context: system CAs plus the directory's CAs, its first client
    certificate, verification as requested, and ``--tls-details``."""
    cas, pairs = scan_cert_dir(directory)
    if skip_verify:
        # Nothing is verified, so the system CA store (~20 ms to load) is not needed.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cas = []
    else:
        from skopeo.systemroots import client_context

        ctx = client_context()
    for ca in cas:
        try:
            ctx.load_verify_locations(cafile=ca)
        except FileNotFoundError:
            continue
        except (ssl.SSLError, ValueError) as e:
            # Go's AppendCertsFromPEM silently ignores what it cannot parse.
            log.debug(f"ignoring CA file {ca}: {e}")
    if pairs:
        cert, key = pairs[0]
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise SkopeoError(f"tls: failed to load client certificate {cert}: {e}") from None
    if skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if details is not None:
        from skopeo.tlsdetails import apply

        apply(ctx, details)
    return ctx


# OpenSSL's reasons for the TLS alerts a server sends → Go's alert texts.
_ALERTS = {
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake failure",
    "TLSV1_ALERT_PROTOCOL_VERSION": "protocol version not supported",
    "TLSV1_ALERT_INTERNAL_ERROR": "internal error",
    "SSLV3_ALERT_ILLEGAL_PARAMETER": "illegal parameter",
    "TLSV1_ALERT_DECODE_ERROR": "error decoding message",
    "TLSV1_ALERT_DECRYPT_ERROR": "error decrypting message",
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "unknown certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "unknown certificate authority",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
    "TLSV1_ALERT_INSUFFICIENT_SECURITY": "insufficient security level",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "certificate required",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": "no application protocol",
}


def alert_text(exc: BaseException) -> str:
    """Go's ``remote error: tls: …`` for an alert the server sent ("" for
    anything else)."""
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLCertVerificationError):
        text = _ALERTS.get(getattr(exc, "reason", None) or "")
        if text:
            return f"remote error: tls: {text}"
    return ""
