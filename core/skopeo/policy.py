"""Trust policy (``policy.json``): lookup, strict parsing, and the evaluation the
copy engine runs before it writes anything.

Requirements that need signatures are evaluated by the signature handler plugin
registered for their ``type``; with none installed such requirements reject."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidReferenceError, PolicyError

if TYPE_CHECKING:
    from .transport import ImageReference, ImageSource

SYSTEM_POLICY = "/etc/containers/policy.json"
VENDOR_POLICY = "/usr/share/containers/policy.json"

INSECURE_ACCEPT_ANYTHING = "insecureAcceptAnything"
REJECT = "reject"
SIGNED_BY = "signedBy"
SIGSTORE_SIGNED = "sigstoreSigned"
SIGNED_BASE_LAYER = "signedBaseLayer"
KNOWN_REQUIREMENTS = (INSECURE_ACCEPT_ANYTHING, REJECT, SIGNED_BY, SIGSTORE_SIGNED, SIGNED_BASE_LAYER)
SIGNATURE_REQUIREMENTS = (SIGNED_BY, SIGSTORE_SIGNED)


class _InvalidPolicy(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _InvalidPolicy(f'Duplicate key "{k}"')
        out[k] = v
    return out


@dataclass
class Policy:
    default: list[dict[str, Any]]
    transports: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    source: str = "<in-memory>"

    @classmethod
    def accept_anything(cls) -> Policy:
        return cls([{"type": INSECURE_ACCEPT_ANYTHING}])

    def requirements_for(self, ref: ImageReference) -> tuple[str, list[dict[str, Any]]]:
        """(description of the section used, its requirements) for *ref*."""
        scopes = self.transports.get(ref.transport.name)
        if scopes:
            identity = ref.policy_configuration_identity()
            if identity in scopes:
                return f'transport "{ref.transport.name}" policy section "{identity}"', scopes[identity]
            for ns in ref.policy_configuration_namespaces():
                if ns in scopes:
                    return f'transport "{ref.transport.name}" policy section "{ns}"', scopes[ns]
            if "" in scopes:
                return f'transport "{ref.transport.name}" specific default', scopes[""]
        return "default policy section", self.default


def default_policy_path() -> str:
    env = os.environ.get("CONTAINERS_POLICY_JSON")
    if env:
        return env
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    user = os.path.join(xdg, "containers", "policy.json")
    for candidate in (user, SYSTEM_POLICY, VENDOR_POLICY):
        if os.path.exists(candidate):
            return candidate
    return SYSTEM_POLICY


def load(path: str | None = None) -> Policy:
    path = path or default_policy_path()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PolicyError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    try:
        return parse(data, path)
    except _InvalidPolicy as e:
        raise PolicyError(f'invalid policy in "{path}": {e}') from None


def parse(data: bytes, source: str = "<in-memory>") -> Policy:
    try:
        obj = json.loads(data, object_pairs_hook=_no_duplicates)
    except _InvalidPolicy:
        raise
    except ValueError as e:
        raise _InvalidPolicy(str(e)) from None
    if not isinstance(obj, dict):
        raise _InvalidPolicy("policy is not a JSON object")
    for key in obj:
        if key not in ("default", "transports"):
            raise _InvalidPolicy(f'Unknown key "{key}"')
    if "default" not in obj:
        raise _InvalidPolicy("Default policy is missing")
    default = _requirements(obj["default"])
    transports: dict[str, dict[str, list[dict[str, Any]]]] = {}
    raw_transports = obj.get("transports") or {}
    if not isinstance(raw_transports, dict):
        raise _InvalidPolicy('"transports" is not an object')
    from . import plugins

    known = plugins.transports()
    for tname, scopes in raw_transports.items():
        if not isinstance(scopes, dict):
            raise _InvalidPolicy(f'transport "{tname}" is not an object')
        parsed: dict[str, list[dict[str, Any]]] = {}
        for scope, reqs in scopes.items():
            transport = known.get(tname)
            if transport is not None and scope != "":
                try:
                    transport.validate_policy_configuration_scope(scope)
                except InvalidReferenceError as e:
                    raise _InvalidPolicy(e.message) from None
            parsed[scope] = _requirements(reqs)
        transports[tname] = parsed
    return Policy(default, transports, source)


_ALLOWED_KEYS = {
    INSECURE_ACCEPT_ANYTHING: {"type"},
    REJECT: {"type"},
}


def _requirements(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _InvalidPolicy("requirements are not a JSON array")
    if not value:
        raise _InvalidPolicy("List of verification policy requirements must not be empty")
    out = []
    for req in value:
        if not isinstance(req, dict):
            raise _InvalidPolicy("requirement is not a JSON object")
        rtype = req.get("type")
        if rtype not in KNOWN_REQUIREMENTS:
            raise _InvalidPolicy(f'Unknown policy requirement type "{rtype}"')
        allowed = _ALLOWED_KEYS.get(rtype)
        if allowed is not None:
            for key in req:
                if key not in allowed:
                    raise _InvalidPolicy(f'Unknown key "{key}"')
        out.append(req)
    return out


@dataclass
class PolicyContext:
    """Evaluates a policy for images; ``require_signed`` demands at least one
    verified signature requirement in the chosen section."""

    policy: Policy
    require_signed: bool = False

    def check(self, src: ImageSource, manifest: bytes, instance_digest: str | None = None) -> None:
        """Raise PolicyError unless the image from *src* is allowed."""
        from . import log, plugins

        ref = src.reference
        log.debug(f"IsRunningImageAllowed for image {ref}")
        section, reqs = self.policy.requirements_for(ref)
        log.debug(f" Using {section}")
        signed_ok = False
        signatures: list[bytes] | None = None
        for i, req in enumerate(reqs):
            rtype = req["type"]
            if rtype == INSECURE_ACCEPT_ANYTHING:
                log.debug(f" Requirement {i}: allowed")
                continue
            if rtype == REJECT:
                raise PolicyError(f"Running image {ref} is rejected by policy.")
            handler = next((h for h in plugins.signature_handlers().values() if rtype in h.requirement_types), None)
            if handler is None:
                raise PolicyError(
                    f"Source image rejected: no installed signature plugin evaluates {rtype!r} requirements"
                )
            if signatures is None:
                signatures = src.get_signatures(instance_digest)
            result = handler.verify(req, signatures, manifest, ref)
            if not result.accepted:
                raise PolicyError(result.reason or f"Running image {ref} is rejected by policy.")
            log.debug(f" Requirement {i}: allowed")
            if rtype in SIGNATURE_REQUIREMENTS:
                signed_ok = True
        if self.require_signed and not signed_ok:
            raise PolicyError(f"Running image {ref} is rejected by policy: a verified signature is required")
        log.debug("Overall: allowed")
