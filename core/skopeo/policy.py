"""Trust policy (``policy.json``): lookup, strict parsing, and the evaluation the
copy engine runs before it writes anything.

Parsing follows containers/image: unknown or duplicate keys, wrong JSON types
and inconsistent combinations reject the whole file, with upstream's texts.
Requirements stay plain dicts (validated, never rewritten) so plugins see what
the user wrote.

Requirements that need signatures are evaluated by the signature handler plugin
registered for their ``type``; with none installed such requirements reject.
A plugin may add requirement types of its own (``SignatureHandler.requirement_types``);
the core then leaves their validation to ``SignatureHandler.validate_requirement``.
The ``signedIdentity`` matchers are implemented here, once, for every handler
(:func:`identity_matches`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidReferenceError, PolicyError
from .golang import gojson
from .golang.oserror import path_error_text

if TYPE_CHECKING:
    from .reference import DockerReference
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

# signedBy keyType values: only GPGKeys is implemented (as upstream); the others
# are valid in a file but reject every image at evaluation.
KEY_TYPE_GPG_KEYS = "GPGKeys"
KEY_TYPES = (KEY_TYPE_GPG_KEYS, "signedByGPGKeys", "X509Certificates", "signedByX509CAs")

MATCH_EXACT = "matchExact"
MATCH_REPO_DIGEST_OR_EXACT = "matchRepoDigestOrExact"
MATCH_REPOSITORY = "matchRepository"
EXACT_REFERENCE = "exactReference"
EXACT_REPOSITORY = "exactRepository"
REMAP_IDENTITY = "remapIdentity"
_DEFAULT_IDENTITY = {"type": MATCH_REPO_DIGEST_OR_EXACT}


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
    """A signature verification policy (``policy.json``): the default
    requirements and those by transport and scope."""

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
    """``$CONTAINERS_POLICY_JSON``, the per-user file, ``/etc``, ``/usr/share``;
    when none exists, the /etc path (whose open error the user then sees)."""
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
        raise PolicyError(path_error_text("open", path, e)) from None
    try:
        return parse(data, path)
    except _InvalidPolicy as e:
        raise PolicyError(f'invalid policy in "{path}": {e}') from None


def parse(data: bytes, source: str = "<in-memory>") -> Policy:
    try:
        obj = gojson.loads(data, object_pairs_hook=_no_duplicates)
    except _InvalidPolicy:
        # Go checks the syntax of the whole document before it decodes anything.
        syntax = gojson.syntax_error(data)
        if syntax is None:
            raise
        raise _InvalidPolicy(syntax) from None
    except ValueError as e:  # Go's syntax error text
        raise _InvalidPolicy(str(e)) from None
    if not isinstance(obj, dict):
        raise _InvalidPolicy(_type_error(obj, "signature.Policy"))
    for key in obj:
        if key not in ("default", "transports"):
            raise _InvalidPolicy(f'Unknown key "{key}"')
    if obj.get("default") is None:
        raise _InvalidPolicy("Default policy is missing")
    default = _requirements(obj["default"])
    transports: dict[str, dict[str, list[dict[str, Any]]]] = {}
    raw_transports = obj.get("transports")
    if raw_transports is None:
        raw_transports = {}
    if not isinstance(raw_transports, dict):
        raise _InvalidPolicy(_type_error(raw_transports, "map[string]signature.PolicyTransportScopes"))
    from . import plugins

    for tname, scopes in raw_transports.items():
        if scopes is None:
            scopes = {}
        if not isinstance(scopes, dict):
            raise _InvalidPolicy(_type_error(scopes, "signature.PolicyTransportScopes"))
        parsed: dict[str, list[dict[str, Any]]] = {}
        for scope, reqs in scopes.items():
            transport = plugins.find_transport(tname)
            if transport is not None and scope != "":
                try:
                    transport.validate_policy_configuration_scope(scope)
                except InvalidReferenceError as e:
                    raise _InvalidPolicy(e.message) from None
            parsed[scope] = _requirements(reqs)
        transports[tname] = parsed
    return Policy(default, transports, source)


# --- strict JSON helpers (containers/image's ParanoidUnmarshalJSONObject) ---------
def _type_error(value: Any, go_type: str, struct_field: str = "") -> str:
    return gojson.type_error(value, go_type, struct_field)


def _check_keys(obj: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in obj:
        if key not in allowed:
            raise _InvalidPolicy(f'Unknown key "{key}"')


def _exact_keys(obj: dict[str, Any], keys: tuple[str, ...]) -> None:
    _check_keys(obj, keys)
    for key in keys:
        if key not in obj:
            raise _InvalidPolicy(f'Key "{key}" missing in a JSON object')


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:  # Go leaves the field empty for null
        return ""
    if not isinstance(value, str):
        raise _InvalidPolicy(_type_error(value, "string"))
    return value


def _string_list(obj: dict[str, Any], key: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _InvalidPolicy(_type_error(value, "[]string"))
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, str):  # Go leaves a null element empty
            raise _InvalidPolicy(gojson.type_error(item, "string", path=f".{i}"))
    return value


def _bytes_field(obj: dict[str, Any], key: str) -> bytes | None:
    try:
        return gojson.decode_bytes(obj.get(key))
    except ValueError as e:
        raise _InvalidPolicy(str(e)) from None


# --- requirements ---------------------------------------------------------------
def _requirements(value: Any) -> list[dict[str, Any]]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise _InvalidPolicy(_type_error(value, "signature.PolicyRequirements"))
    if not value:
        raise _InvalidPolicy("List of verification policy requirements must not be empty")
    return [_requirement(req) for req in value]


def _plugin_requirement_types() -> dict[str, Any]:
    from . import plugins

    out: dict[str, Any] = {}
    for handler in plugins.signature_handlers().values():
        for rtype in handler.requirement_types:
            if rtype not in KNOWN_REQUIREMENTS:
                out.setdefault(rtype, handler)
    return out


def _requirement(req: Any) -> dict[str, Any]:
    if not isinstance(req, dict):
        raise _InvalidPolicy(_type_error(req, "signature.prCommon"))
    rtype = req.get("type")
    if rtype is not None and not isinstance(rtype, str):
        raise _InvalidPolicy(_type_error(rtype, "signature.prTypeIdentifier", "prCommon.type"))
    if rtype in (INSECURE_ACCEPT_ANYTHING, REJECT):
        _exact_keys(req, ("type",))
    elif rtype == SIGNED_BY:
        _signed_by(req)
    elif rtype == SIGSTORE_SIGNED:
        from .policy_sigstore import parse_sigstore_signed

        parse_sigstore_signed(req)
    elif rtype == SIGNED_BASE_LAYER:
        _exact_keys(req, ("type", "baseLayerIdentity"))
        _identity_matcher(req["baseLayerIdentity"])
    else:
        handler = _plugin_requirement_types().get(rtype or "")
        if handler is None:
            raise _InvalidPolicy(f'Unknown policy requirement type "{rtype or ""}"')
        try:
            handler.validate_requirement(req)
        except ValueError as e:
            raise _InvalidPolicy(str(e)) from None
    return req


def _signed_by(req: dict[str, Any]) -> None:
    _check_keys(req, ("type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"))
    key_type = _string(req, "keyType")
    _string(req, "keyPath")
    key_paths = _string_list(req, "keyPaths")
    _bytes_field(req, "keyData")
    if "signedIdentity" in req:
        _identity_matcher(req["signedIdentity"])
    present = [k for k in ("keyPath", "keyPaths", "keyData") if k in req]
    if not present:
        raise _InvalidPolicy("Exactly one of keyPath, keyPaths and keyData must be specified, none of them present")
    if len(present) > 1:
        raise _InvalidPolicy("Exactly one of keyPath, keyPaths and keyData must be specified, more than one present")
    if key_type not in KEY_TYPES:
        raise _InvalidPolicy(f'invalid keyType "{key_type}"')
    if key_paths is not None and not key_paths:
        raise _InvalidPolicy("keyPaths must not be empty")


# --- signedIdentity matchers ------------------------------------------------------
_PREFIX_DOMAIN_RE: re.Pattern[str] | None = None
_PREFIX_NAME_RE: re.Pattern[str] | None = None


def _identity_matcher(value: Any) -> dict[str, Any]:
    from .reference import parse_normalized

    if value is None:  # Go decodes null into an empty matcher
        value = {}
    if not isinstance(value, dict):
        raise _InvalidPolicy(_type_error(value, "signature.prmCommon"))
    mtype = value.get("type")
    if mtype is not None and not isinstance(mtype, str):
        raise _InvalidPolicy(_type_error(mtype, "signature.prmTypeIdentifier"))
    if mtype in (MATCH_EXACT, MATCH_REPO_DIGEST_OR_EXACT, MATCH_REPOSITORY):
        _exact_keys(value, ("type",))
    elif mtype == EXACT_REFERENCE:
        _exact_keys(value, ("type", "dockerReference"))
        text = _string(value, "dockerReference")
        try:
            ref = parse_normalized(text)
        except InvalidReferenceError as e:
            raise _InvalidPolicy(f"Invalid format of dockerReference {text}: {e.message}") from None
        if ref.is_name_only:
            raise _InvalidPolicy(f"dockerReference {text} contains neither a tag nor digest")
    elif mtype == EXACT_REPOSITORY:
        _exact_keys(value, ("type", "dockerRepository"))
        text = _string(value, "dockerRepository")
        try:
            parse_normalized(text)
        except InvalidReferenceError as e:
            raise _InvalidPolicy(f"Invalid format of dockerRepository {text}: {e.message}") from None
    elif mtype == REMAP_IDENTITY:
        _exact_keys(value, ("type", "prefix", "signedPrefix"))
        for key in ("prefix", "signedPrefix"):
            _validate_remap_prefix(_string(value, key))
    else:
        raise _InvalidPolicy(f'Unknown policy reference match type "{mtype or ""}"')
    return value


def _validate_remap_prefix(prefix: str) -> None:
    """A host[:port], or a repository name optionally with a host — as upstream's
    validateIdentityRemappingPrefix (which does not catch every invalid value)."""
    global _PREFIX_DOMAIN_RE, _PREFIX_NAME_RE
    if _PREFIX_DOMAIN_RE is None or _PREFIX_NAME_RE is None:
        from . import reference as r

        _PREFIX_DOMAIN_RE = re.compile(rf"^{r._DOMAIN}$")
        _PREFIX_NAME_RE = re.compile(rf"^{r._NAME}$")
    if not (_PREFIX_DOMAIN_RE.match(prefix) or _PREFIX_NAME_RE.match(prefix)):
        raise _InvalidPolicy(f'Invalid prefix "{prefix}"')


def _parse_signature_ref(text: str) -> DockerReference | None:
    from .reference import parse_normalized

    try:
        return parse_normalized(text)
    except InvalidReferenceError:
        return None


def _repo_digest_or_exact(intended: DockerReference, signature: DockerReference) -> bool:
    if signature.is_name_only:
        return False
    if intended.tag is not None:  # includes tag+digest: the exact string must match
        return str(signature) == str(intended)
    if intended.digest is not None:
        # The digest itself is checked against the manifest by the handler.
        return signature.name == intended.name
    return False


def _remap(prefix: str, signed_prefix: str, ref: DockerReference) -> DockerReference | None:
    from .reference import parse_canonical

    name = ref.name
    if not (name == prefix or (name.startswith(prefix) and len(name) > len(prefix) and name[len(prefix)] == "/")):
        return ref
    try:
        return parse_canonical(str(ref).replace(prefix, signed_prefix, 1))
    except InvalidReferenceError:
        return None


def payload_rejection(requirement: dict[str, Any], payload: Any, manifest: bytes, image: ImageReference) -> str | None:
    """Why a cryptographically verified signature *payload* (anything with
    ``docker_manifest_digest`` and ``docker_reference``) does not accept this
    image, or None: the checks every signature kind shares."""
    from . import manifest as mf
    from .errors import SkopeoError

    try:
        digest_ok = mf.matches_digest(manifest, payload.docker_manifest_digest)
    except (SkopeoError, ValueError):
        digest_ok = False
    if not digest_ok:
        return f"Signature for digest {payload.docker_manifest_digest} does not match"
    if not identity_matches(requirement.get("signedIdentity"), image, payload.docker_reference):
        return f'Signature for identity "{payload.docker_reference}" is not accepted'
    return None


def identity_matches(matcher: dict[str, Any] | None, image: ImageReference, signed_reference: str) -> bool:
    """Whether a signature claiming *signed_reference* is acceptable for *image*
    under the ``signedIdentity`` rule *matcher* (default ``matchRepoDigestOrExact``)."""
    from .reference import parse_normalized

    m = matcher or _DEFAULT_IDENTITY
    mtype = m.get("type")
    signature = _parse_signature_ref(signed_reference)
    if signature is None:
        return False
    if mtype == EXACT_REFERENCE:
        wanted = parse_normalized(m["dockerReference"])
        return not wanted.is_name_only and not signature.is_name_only and str(wanted) == str(signature)
    if mtype == EXACT_REPOSITORY:
        return parse_normalized(m["dockerRepository"]).name == signature.name
    intended = image.docker_reference()
    if intended is None:
        # Transports without a docker identity only work with exactReference/exactRepository.
        return False
    if mtype == MATCH_EXACT:
        return not intended.is_name_only and not signature.is_name_only and str(intended) == str(signature)
    if mtype == MATCH_REPO_DIGEST_OR_EXACT:
        return _repo_digest_or_exact(intended, signature)
    if mtype == MATCH_REPOSITORY:
        return intended.name == signature.name
    if mtype == REMAP_IDENTITY:
        remapped = _remap(m["prefix"], m["signedPrefix"], intended)
        return remapped is not None and _repo_digest_or_exact(remapped, signature)
    return False


def load_key_sources(requirement: dict[str, Any], path: str, paths: str | None, data: str,
                     datas: str | None = None) -> list[bytes]:
    """The key material a requirement names (each file / each inline value is one
    entry).  Raises PolicyError with the OS error for unreadable files."""
    out: list[bytes] = []
    files: list[str] = []
    if requirement.get(path):
        files.append(requirement[path])
    if paths is not None:  # a null entry is Go's empty string
        files.extend(f or "" for f in requirement.get(paths) or [])
    for f in files:
        try:
            with open(f, "rb") as fh:
                out.append(fh.read())
        except OSError as e:
            raise PolicyError(path_error_text("open", f, e)) from None
    if requirement.get(data) is not None:
        out.append(gojson.decode_bytes(requirement[data]) or b"")
    if datas is not None:
        out.extend(gojson.decode_bytes(d) or b"" for d in requirement.get(datas) or [])
    return out


# --- evaluation -------------------------------------------------------------------
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
                log.debug(f"Requirement {i}: denied, done")
                raise PolicyError(f"Running image {ref} is rejected by policy.")
            if rtype == SIGNED_BASE_LAYER:
                # Upstream never implemented it; it rejects every image.
                log.error("signedBaseLayer not implemented yet!")
                raise PolicyError("signedBaseLayer not implemented yet!")
            handler = next((h for h in plugins.signature_handlers().values() if rtype in h.requirement_types), None)
            if handler is None:
                raise PolicyError(
                    f"Running image {ref} is rejected by policy: no installed signature plugin evaluates {rtype!r} "
                    "requirements (pip install skopeo-gpg / skopeo-sigstore)"
                )
            if signatures is None:
                signatures = src.get_signatures(instance_digest)
            result = handler.verify(req, signatures, manifest, ref)
            if not result.accepted:
                log.debug(f"Requirement {i}: denied, done")
                raise PolicyError(result.reason or f"Running image {ref} is rejected by policy.")
            log.debug(f" Requirement {i}: allowed")
            if rtype in SIGNATURE_REQUIREMENTS or rtype not in KNOWN_REQUIREMENTS:
                signed_ok = True
        if self.require_signed and not signed_ok:
            # Upstream main's text (1.9.3 has no --require-signed); the image is named by its policy identity.
            raise PolicyError(
                f"No signature verification policy found for image {ref.transport.name}:{ref.policy_configuration_identity()}"
            )
        log.debug("Overall: allowed")
