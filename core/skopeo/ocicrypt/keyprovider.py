"""Key providers (``provider:NAME``), ocicrypt's keyprovider protocol: the
providers of the JSON file ``$OCICRYPT_KEYPROVIDER_CONFIG`` names
(``{"key-providers": {"NAME": {"cmd": {"path": …, "args": […]}}}}``) each get
a key wrapper whose annotation is
``org.opencontainers.image.enc.keys.provider.NAME``.  A ``cmd`` provider is a
program given one JSON request on stdin (``{"op": "keywrap", "keywrapparams":
{"ec": …, "optsdata": …}, …}`` or ``"keyunwrap"`` with ``"keyunwrapparams":
{"dc": …, "annotation": …}``) that answers with ``{"keywrapresults":
{"annotation": …}}`` or ``{"keyunwrapresults": {"optsdata": …}}`` on stdout;
byte strings are base64 and the crypto configurations are Go's
``EncryptConfig``/``DecryptConfig`` as encoding/json writes them.

``grpc`` providers (the same messages over a gRPC service) are not supported:
naming one is an error that says so."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
from typing import Any

from .. import log
from ..errors import SkopeoError
from ..golang import gojson
from .config import DecryptConfig, EncryptConfig, Parameters

ENV = "OCICRYPT_KEYPROVIDER_CONFIG"


def _parameters(params: Parameters | None) -> dict[str, list[str]] | None:
    if not params:
        return None if params is None else {}
    return {k: [base64.b64encode(v).decode() for v in params[k]] for k in sorted(params)}


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def wrap_request(ec: EncryptConfig, opts: bytes) -> bytes:
    return gojson.marshal({
        "op": "keywrap",
        "keywrapparams": {"ec": {"Parameters": _parameters(ec.parameters),
                                 "DecryptConfig": {"Parameters": _parameters(ec.decrypt.parameters)}},
                          "optsdata": _b64(opts)},
        "keyunwrapparams": {"dc": None, "annotation": None},
    })


def unwrap_request(dc: DecryptConfig, annotation: bytes) -> bytes:
    return gojson.marshal({
        "op": "keyunwrap",
        "keywrapparams": {"ec": None, "optsdata": None},
        "keyunwrapparams": {"dc": {"Parameters": _parameters(dc.parameters)}, "annotation": _b64(annotation)},
    })


def _result(output: bytes, section: str, field: str) -> bytes:
    try:
        obj = gojson.loads(output)
    except ValueError as e:
        raise SkopeoError(f"Error while unmarshalling binary executable command output: {e}") from None
    part = obj.get(section) if isinstance(obj, dict) else None
    value = part.get(field) if isinstance(part, dict) else None
    if value is None:
        return b""
    try:
        return gojson.decode_base64(str(value))
    except ValueError as e:
        raise SkopeoError(f"Error while unmarshalling binary executable command output: {e}") from None


class KeyProviderWrapper:
    def __init__(self, name: str, attrs: dict[str, Any]) -> None:
        self.name = name
        self.annotation_id = f"org.opencontainers.image.enc.keys.provider.{name}"
        self._attrs = attrs

    def _call(self, request: bytes) -> bytes:
        cmd = self._attrs.get("cmd")
        if isinstance(cmd, dict):
            path = str(cmd.get("path") or "")
            args = [str(a) for a in cmd.get("args") or []]
            try:
                proc = subprocess.run([path, *args], input=request, capture_output=True, check=False, timeout=300)
            except OSError as e:
                raise SkopeoError(f"Error while running command: {path}. stderr: : exec: \"{path}\": "
                                  f"{(e.strerror or str(e)).lower()}") from None
            if proc.returncode != 0:
                status = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal: {-proc.returncode}"
                raise SkopeoError(f"Error while running command: {path}. stderr: "
                                  f"{proc.stderr.decode('utf-8', 'replace')}: {status}")
            return proc.stdout
        if self._attrs.get("grpc"):
            raise SkopeoError(f'key provider "{self.name}" uses grpc, which is not supported; use a "cmd" key provider')
        raise SkopeoError("Unsupported keyprovider invocation. Supported invocation methods are grpc and cmd")

    def wrap_keys(self, ec: EncryptConfig, opts: bytes) -> bytes | None:
        if self.name not in ec.parameters:
            return None
        try:
            output = self._call(wrap_request(ec, opts))
        except SkopeoError as e:
            raise e.wrap("error while retrieving keyprovider protocol command output") from None
        return _result(output, "keywrapresults", "annotation")

    def unwrap_key(self, dc: DecryptConfig, packet: bytes) -> bytes:
        return _result(self._call(unwrap_request(dc, packet)), "keyunwrapresults", "optsdata")

    def no_possible_keys(self, params: Parameters) -> bool:
        return False

    def private_keys(self, params: Parameters) -> list[bytes]:
        return []


def configured_wrappers() -> list[KeyProviderWrapper]:
    """One wrapper per configured provider (sorted by name); a configuration
    that cannot be read is reported (once) and ignored, as ocicrypt does."""
    path = os.environ.get(ENV, "")
    return list(_wrappers(path)) if path else []


@functools.cache
def _wrappers(path: str) -> tuple[KeyProviderWrapper, ...]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ()
    except OSError as e:
        log.error(f"Error while parsing keyprovider config file: {e.strerror or e}")
        return ()
    try:
        obj = json.loads(data)
        providers = obj.get("key-providers") if isinstance(obj, dict) else None
        if providers is not None and not isinstance(providers, dict):
            raise ValueError("key-providers is not an object")
    except ValueError as e:
        log.error(f"Error while parsing keyprovider config file: {e}")
        return ()
    return tuple(KeyProviderWrapper(name, attrs if isinstance(attrs, dict) else {})
                 for name, attrs in sorted((providers or {}).items()))
