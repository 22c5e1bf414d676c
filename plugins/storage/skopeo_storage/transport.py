"""``containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]NAME[:TAG|@DIGEST][@ID]``:
references into a containers/storage store, parsed as containers/image's
``storage_transport.go`` does.

The store specifier is optional (the configured default store is used without
one); ``[GRAPHROOT]``, ``[DRIVER@GRAPHROOT]`` and the run root and options parts
are optional inside it.  The rest is a name (normalised: ``busybox`` is
``docker.io/library/busybox:latest``), a name with a digest, ``@ID`` (an image ID,
or an unambiguous prefix of one of at least 3 characters), ``NAME@ID``, or an ID
prefix alone.  Opening the store (and creating its directories) happens at
parsing, as upstream, because an ID prefix is resolved against it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from skopeo.context import SystemContext
from skopeo.errors import InvalidReferenceError
from skopeo.reference import DockerReference, parse_normalized
from skopeo.transport import ImageDestination, ImageReference, ImageSource, Transport

if TYPE_CHECKING:
    from .store import Store

MIN_TRUNCATED_ID_LENGTH = 3
ERR_INVALID = "invalid reference"
ERR_NOT_ABSOLUTE = "path name is not absolute"


def _q(text: str) -> str:
    from skopeo.golang import gojson  # only for error messages

    return gojson.quote(text.encode("utf-8", "surrogateescape"))


def digest_error(text: str) -> str | None:
    """go-digest's ``Digest.Validate`` error text, or None for a valid digest."""
    from skopeo.digest import validate

    try:
        validate(text)
    except InvalidReferenceError as e:
        return e.message
    return None


def image_id_error(image_id: str) -> str | None:
    return digest_error("sha256:" + image_id)


class StorageTransport(Transport):
    name = "containers-storage"
    deletes_images = True

    def parse_reference(self, text: str) -> StorageReference:
        from .config import StoreOptions, load_store_options
        from .store import get_store

        if text.startswith("["):
            close = text.find("]")
            if close < 1:
                raise InvalidReferenceError(ERR_INVALID)
            spec, rest = text[1:close], text[close + 1:]
            driver, at, roots = spec.partition("@")
            if not at:
                driver, roots = "", spec
                if not roots:
                    raise InvalidReferenceError(ERR_INVALID)
            elif not driver or not roots:
                raise InvalidReferenceError(ERR_INVALID)
            roots, colon, opts = roots.partition(":")
            options = opts.split(",") if colon else []
            graph_root, _, run_root = roots.partition("+")
            if graph_root and not os.path.isabs(graph_root):
                raise InvalidReferenceError(ERR_NOT_ABSOLUTE)
            if run_root and not os.path.isabs(run_root):
                raise InvalidReferenceError(ERR_NOT_ABSOLUTE)
            wanted = StoreOptions(graph_root=graph_root, run_root=run_root, driver=driver, driver_options=options)
            if not (graph_root or run_root or driver or options):
                wanted = load_store_options()
            elif not graph_root and not run_root:
                raise InvalidReferenceError("no storage runroot or graphroot specified: missing necessary StoreOptions")
            elif not graph_root or not run_root:
                defaults = load_store_options()
                wanted.graph_root = graph_root or defaults.graph_root
                wanted.run_root = run_root or defaults.run_root
            store = get_store(wanted)
        else:
            store, rest = get_store(load_store_options()), text
        return parse_store_reference(self, store, rest)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        if not scope.startswith("["):
            raise InvalidReferenceError(ERR_INVALID)
        close = scope.find("]")
        if close < 1:
            raise InvalidReferenceError(ERR_INVALID)
        spec, rest = scope[1:close], scope[close + 1:]
        driver, at, root = spec.partition("@")
        if at and driver and root:
            if not os.path.isabs(root):
                raise InvalidReferenceError(ERR_NOT_ABSOLUTE)
        elif not at and driver:
            if not os.path.isabs(spec):
                raise InvalidReferenceError(ERR_NOT_ABSOLUTE)
        else:
            raise InvalidReferenceError(ERR_INVALID)
        if not rest:
            return
        fields = rest.split("@", 2)
        if len(fields) == 2:
            id_err, digest_err = image_id_error(fields[1]), digest_error(fields[1])
            if id_err and digest_err:
                raise InvalidReferenceError(
                    f"{fields[1]} is neither a valid digest({digest_err}) nor a valid ID({id_err})"
                )
        elif len(fields) == 3:
            for err in (digest_error(fields[1]), image_id_error(fields[2])):
                if err:
                    raise InvalidReferenceError(err)


def parse_store_reference(transport: StorageTransport, store: Store, ref: str) -> StorageReference:
    """``ParseStoreReference``: a name and/or an image ID, within *store*."""
    if not ref:
        raise InvalidReferenceError(f'"" is an empty reference: {ERR_INVALID}')
    if ref.startswith("["):
        close = ref.find("]")
        if close < 1:
            raise InvalidReferenceError(f"store specifier in {_q(ref)} did not end: {ERR_INVALID}")
        ref = ref[close + 1:]
    image_id = ""
    split = ref.rfind("@")
    if split != -1:
        possible = ref[split + 1:]
        if not possible:
            raise InvalidReferenceError(f"empty trailing digest or ID in {_q(ref)}: {ERR_INVALID}")
        if digest_error(possible) is not None:
            if image_id_error(possible) is None:
                image_id = possible
            else:
                found = store.image(possible) if len(possible) >= MIN_TRUNCATED_ID_LENGTH else None
                if found is None or not found["id"].startswith(possible):
                    raise InvalidReferenceError(f"{_q(possible)} does not look like an image ID or digest: {ERR_INVALID}")
                image_id = found["id"]
            ref = ref[:split]
    if not image_id and len(ref) >= MIN_TRUNCATED_ID_LENGTH and "@" not in ref and ":" not in ref:
        found = store.image(ref)
        if found is not None and found["id"].startswith(ref):
            image_id, ref = found["id"], ""
    named = None
    if ref:
        try:
            named = parse_normalized(ref).tag_name_only()
        except InvalidReferenceError as e:
            raise InvalidReferenceError(f"parsing named reference {_q(ref)}: {e}") from None
    if named is None and not image_id:
        raise InvalidReferenceError(ERR_INVALID)
    return StorageReference(transport, store, named, image_id)


class StorageReference(ImageReference):
    transport: StorageTransport

    def __init__(self, transport: StorageTransport, store: Store, named: DockerReference | None, image_id: str) -> None:
        super().__init__(transport)
        self.store = store
        self.named = named
        self.id = image_id

    def string_within_transport(self) -> str:
        out = self.store.spec()
        if self.named is not None:
            out += str(self.named)
        if self.id:
            out += "@" + self.id
        return out

    def docker_reference(self) -> DockerReference | None:
        return self.named

    def _store_scope(self) -> str:
        return f"[{self.store.driver_name}@{self.store.graph_root}]"

    def policy_configuration_identity(self) -> str:
        out = self._store_scope()
        if self.named is not None:
            out += str(self.named)
        if self.id:
            out += "@" + self.id
        return out

    def policy_configuration_namespaces(self) -> list[str]:
        spec = self._store_scope()
        out: list[str] = []
        if self.named is not None:
            if self.id:
                out.append(spec + str(self.named))
            if self.named.tag is not None and self.named.digest is not None:
                out.append(f"{spec}{self.named.name}:{self.named.tag}")
            components = self.named.name.split("/")
            while components:
                out.append(spec + "/".join(components))
                components.pop()
        out.append(spec)
        out.append(f"[{self.store.graph_root}]")
        return out

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        from .source import StorageSource

        return StorageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        from .destination import StorageDestination

        return StorageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        from .resolve import resolve_image
        from .writer import delete_image

        image = resolve_image(self, ctx)
        delete_image(self.store, image)
