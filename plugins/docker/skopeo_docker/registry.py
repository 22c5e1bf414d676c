"""Registry operations on a repository, shared by sources, destinations,
signatures and the reference's own verbs: manifests (fetch, upload), small
blobs, blob existence and cross-repository mounts, tag listing and deletion."""

from __future__ import annotations

import urllib.parse

from skopeo import digest as digest_mod
from skopeo import log, registries_d
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import ManifestTypeRejectedError, SkopeoError
from skopeo.reference import TAG_RE, DockerReference

from . import http_messages as http
from .authorization import Scope
from .blob_cache import record_manifest_blobs
from .body_reader import blob_size
from .client import MAX_TAG_LIST_BODY_SIZE, RegistryClient, new_client
from .network import error_from, read_limited
from .registry_errors import is_manifest_invalid

ACCEPT_MANIFESTS = [("Accept", t) for t in mf.DEFAULT_REQUESTED_TYPES]


def repo_path(ref: DockerReference, kind: str, tail: str) -> str:
    return f"/v2/{ref.path}/{kind}/{tail}"


# --- manifests ---------------------------------------------------------------------------------
def fetch_manifest(client: RegistryClient, ref: DockerReference, tag_or_digest: str) -> tuple[bytes, str]:
    resp = client.request(
        "GET", repo_path(ref, "manifests", tag_or_digest), headers=ACCEPT_MANIFESTS, preload=mf.MAX_MANIFEST_SIZE
    )
    content_type = resp.headers.get("Content-Type", "")
    log.debug(f'Content-Type from manifest GET is "{content_type}"')
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap(f"reading manifest {tag_or_digest} in {ref.name}") from None
    data = read_limited(resp, mf.MAX_MANIFEST_SIZE)
    header_digest = resp.headers.get("Docker-Content-Digest", "")
    # Fetched by tag: a header the bytes contradict is refused (upstream trusts
    # it blindly).  Fetched by digest: the header proves nothing either way; the
    # core checks the bytes against the digest asked for (skopeo.image), with
    # upstream's wording, whatever the header says.
    if digest_mod.is_digest(header_digest) and not digest_mod.is_digest(tag_or_digest):
        try:
            matches = mf.matches_digest(data, header_digest)
        except SkopeoError:
            matches = True  # unparseable schema1 signatures: the engine reports those
        if not matches:
            raise SkopeoError(
                f"reading manifest {tag_or_digest} in {ref.name}: registry reported digest {header_digest}, "
                f"content has digest {mf.manifest_digest(data, header_digest.partition(':')[0])}"
            )
    mime = content_type.split(";", 1)[0].strip()
    if mime not in (*mf.ALL_IMAGE_TYPES, *mf.LISTS):
        # application/json or nothing: upstream assumes signed schema1; the bytes know better.
        mime = mf.guess_mime(data) or mf.normalize_mime(mime)
    return data, mime

def put_manifest(client: RegistryClient, ref: DockerReference, data: bytes, mime: str, ref_tail: str) -> None:
    """PUT *data* as the manifest *ref_tail* (a tag or digest) of *ref*'s repository."""
    path = repo_path(ref, "manifests", ref_tail)
    headers = []
    guessed = mf.guess_mime(data)
    if guessed:
        headers.append(("Content-Type", guessed))
    resp = client.request("PUT", path, headers=headers, content=data)
    if not 200 <= resp.status_code <= 399:
        err = error_from(resp)
        wrapped = err.wrap(f"uploading manifest {ref_tail} to {ref.name}")
        if is_manifest_invalid(err):
            raise ManifestTypeRejectedError(wrapped.message) from None
        raise wrapped from None
    if "Docker-Content-Digest" not in resp.headers:
        log.debug(
            "Manifest upload response didn't contain a Docker-Content-Digest header, "
            "it might not be a container registry"
        )
    resp.close()
    record_manifest_blobs(data, guessed or mime, ref)


# --- blobs -------------------------------------------------------------------------------------
def get_blob_response(client: RegistryClient, path: str) -> http.Response:
    """GET a blob, following redirects (object stores, CDNs) without sending the
    registry's Authorization header to any other host."""
    headers = [("Accept-Encoding", "identity")]
    resp = client.request("GET", path, headers=headers)
    origin = resp.request.url
    for _ in range(10):
        if resp.status_code not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
            return resp
        target = origin.join(resp.headers["Location"])
        resp.close()
        same_origin = (target.scheme, target.host, target.port) == (origin.scheme, origin.host, origin.port)
        if same_origin:
            resp = client.request("GET", target, headers=headers)
        else:
            resp = client.request("GET", target, headers=headers, auth=False)
        origin = target
    return resp


def blob_bytes(client: RegistryClient, ref: DockerReference, desc: mf.Descriptor, limit: int) -> bytes:
    """The contents of the (small) blob *desc* in *ref*'s repository, at most
    *limit* bytes, checked against its digest (upstream's getOCIDescriptorContents)."""
    try:
        digest_mod.validate(desc.digest)
    except SkopeoError as e:
        raise SkopeoError(f'invalid digest "{desc.digest}": {e}') from None
    algo = desc.digest.partition(":")[0]  # validate() accepted only algorithms we compute
    path = repo_path(ref, "blobs", desc.digest)
    log.debug(f"Downloading {path}")
    resp = get_blob_response(client, path)
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap("fetching blob") from None
    try:
        data = read_limited(resp, limit)
    except SkopeoError as e:
        raise e.wrap(f"reading blob {desc.digest} in {ref.name}") from None
    actual = digest_mod.of_bytes(data, algo)
    if actual != desc.digest:
        raise SkopeoError(f'digest mismatch, expected "{desc.digest}", got "{actual}"')
    return data

def blob_exists(client: RegistryClient, ref: DockerReference, path: str, digest: str,
                extra_scope: Scope | None) -> int | None:
    """Size of the blob if the repository *path* of *ref*'s registry has it, else None."""
    digest_mod.validate(digest)
    log.debug(f"Checking /v2/{path}/blobs/{digest}")
    resp = client.request("HEAD", f"/v2/{path}/blobs/{digest}", extra_scope=extra_scope)
    name = f"{ref.domain}/{path}"
    if resp.status_code == 200:
        resp.close()
        size = blob_size(resp)
        if size < 0:
            raise SkopeoError(
                f'determining size of blob {digest} in {name}: Missing "Content-Length" header in response'
            )
        log.debug("... already exists")
        return size
    if resp.status_code == 404:
        resp.close()
        log.debug("... not present")
        return None
    err = error_from(resp)
    raise err.wrap(f"checking whether a blob {digest} exists in {name}") from None


def mount(client: RegistryClient, ref: DockerReference, from_path: str, digest: str, scope: Scope) -> bool:
    """Ask the registry to link the blob of repository *from_path* into *ref*'s."""
    query = urllib.parse.urlencode([("from", from_path), ("mount", digest)])
    path = f"/v2/{ref.path}/blobs/uploads/?{query}"
    log.debug(f"Trying to mount {path}")
    resp = client.request("POST", path, extra_scope=scope)
    if resp.status_code == 201:
        resp.close()
        log.debug("... mount OK")
        return True
    if resp.status_code == 202:
        location = resp.headers.get("Location")
        resp.close()
        log.debug("... started an upload instead of mounting, trying to cancel")
        if location:
            try:
                cancel = client.request("DELETE", resp.request.url.join(location), extra_scope=scope)
                cancel.close()
            except SkopeoError as e:
                log.debug(f"Error trying to cancel an inadvertent upload: {e}")
        return False
    err = error_from(resp)
    log.debug(f"... mount failed: {err}")
    return False


# --- tags and deletion -------------------------------------------------------------------------
def list_repository_tags(ctx: SystemContext, ref: DockerReference) -> list[str]:
    """Every tag of *ref*'s repository, following ``Link`` pagination."""
    import json

    try:
        client = new_client(ctx, ref, "pull")
    except SkopeoError as e:
        raise e.wrap("failed to create client") from None
    path = repo_path(ref, "tags", "list")
    tags: list[str] = []
    while True:
        resp = client.request("GET", path, preload=MAX_TAG_LIST_BODY_SIZE)
        if resp.status_code != 200:
            err = error_from(resp)
            raise err.wrap("fetching tags list") from None
        body = read_limited(resp, MAX_TAG_LIST_BODY_SIZE)
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise SkopeoError(f"fetching tags list: {e}") from None
        page = obj.get("tags") if isinstance(obj, dict) else None
        for tag in page or []:
            if not isinstance(tag, str) or not TAG_RE.match(tag):
                if not tag:
                    log.debug("Ignoring invalid empty tag")
                    continue
                if isinstance(tag, str) and digest_mod.is_digest(tag):
                    log.debug(f'Ignoring invalid tag "{tag}" matching a digest format')
                    continue
                raise SkopeoError(f'registry returned invalid tag "{tag}": invalid tag format')
            tags.append(tag)
        link = resp.headers.get("Link", "")
        if not link:
            break
        target = urllib.parse.urlsplit(link.split(";", 1)[0].strip().strip("<>"))
        # Relative or absolute: only the path and query are used.
        path = target.path + (f"?{target.query}" if target.query else "")
    return tags


def delete_image(ctx: SystemContext, ref: DockerReference) -> None:
    """Delete the manifest *ref* points at, by digest (so every tag sharing it
    goes), then its signatures in the lookaside registries.d names for writing
    (``lookaside-staging``, else ``lookaside``), as upstream's deleteImage.

    Unlike upstream, a reference by digest is checked against the manifest the
    registry returns: a registry (or a man in the middle) answering another
    manifest must not make us delete that other image."""
    lookaside = registries_d.lookaside_for(ref, ctx.registries_d)
    client = new_client(ctx, ref, "*")
    tail = ref.digest or ref.tag or "latest"
    resp = client.request("GET", repo_path(ref, "manifests", tail), headers=ACCEPT_MANIFESTS)
    if resp.status_code == 404:
        resp.close()
        raise SkopeoError(
            f"Unable to delete {ref}. Image may not exist or is not stored with a v2 Schema in a v2 registry"
        )
    if resp.status_code != 200:
        err = error_from(resp)
        raise err.wrap(f"deleting {ref}") from None
    body = read_limited(resp, mf.MAX_MANIFEST_SIZE)
    try:
        digest = mf.manifest_digest(body)
    except SkopeoError as e:
        raise e.wrap("computing manifest digest") from None
    if ref.digest is not None:
        mf.verify_manifest(body, ref.digest)
    resp = client.request("DELETE", repo_path(ref, "manifests", digest), headers=ACCEPT_MANIFESTS)
    if resp.status_code != 202:
        err = error_from(resp)
        raise err.wrap(f"deleting {ref}") from None
    resp.close()
    registries_d.delete_signatures(lookaside.write_url, digest)
