"""Reading an image from a registry: the manifest (through registries.conf
mirrors and rewrites), blobs streamed with resume, foreign-layer URLs,
signatures and the repository's tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo import digest as digest_mod
from skopeo import log
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.reference import parse_canonical
from skopeo.transport import BlobInfo, BlobStream, ImageSource, SourceCapabilities

from . import http_messages as http
from . import registries_conf
from .blob_cache import record_location, record_manifest_blobs
from .body_reader import BlobReader, blob_size
from .client import new_client, without_explicit_credentials
from .network import error_from
from .registry import fetch_manifest, get_blob_response, list_repository_tags, repo_path
from .registry_errors import RegistryError
from .signatures import image_signatures

if TYPE_CHECKING:
    from .transport import DockerImageReference


class DockerImageSource(ImageSource):
    capabilities = SourceCapabilities(thread_safe_get_blob=True)
    reference: DockerImageReference

    def __init__(self, reference: DockerImageReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        self.ctx = ctx
        logical = reference.ref
        conf = registries_conf.load(ctx)
        try:
            reg = conf.find_registry(logical.name)
        except SkopeoError as e:
            raise e.wrap("loading registries configuration") from None
        if reg is not None and reg.blocked:
            raise conf.blocked_error(reg)
        if reg is None:
            sources: list[tuple[registries_conf.Endpoint | None, str]] = [(None, str(logical))]
        else:
            sources = list(reg.pull_sources(logical))
        attempts: list[tuple[str, SkopeoError]] = []
        for endpoint, physical_text in sources:
            log.debug(f'Trying to access "{physical_text}"')
            try:
                physical = parse_canonical(physical_text)
            except SkopeoError as e:
                attempts.append((physical_text, e.wrap("rewriting reference")))
                continue
            endpoint_ctx = ctx if physical.domain == logical.domain else without_explicit_credentials(ctx)
            try:
                client = new_client(endpoint_ctx, physical, "pull", None if endpoint is None else endpoint.insecure)
                data, mime = fetch_manifest(client, physical, physical.digest or physical.tag or "latest")
            except SkopeoError as e:
                log.debug(f'Accessing "{physical_text}" failed: {e}')
                attempts.append((physical_text, e))
                continue
            self.physical = physical
            self.client = client
            self._manifest = data
            self._mime = mime
            record_manifest_blobs(data, mime, physical)
            return
        if len(attempts) == 1:
            raise attempts[0][1]
        primary_ref, primary_err = attempts[-1]
        extras = "\n".join(f"[{r}: {e}]" for r, e in attempts[:-1])
        raise primary_err.wrap(f"(Mirrors also failed: {extras}): {primary_ref}") from None

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is None:
            return self._manifest, self._mime
        digest_mod.validate(instance_digest)
        data, mime = fetch_manifest(self.client, self.physical, instance_digest)
        record_manifest_blobs(data, mime, self.physical)
        return data, mime

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        digest = instance_digest or self.physical.digest or mf.manifest_digest(self._manifest)
        return image_signatures(self.ctx, self.client, self.physical, digest)

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        if info.urls:
            found = self._get_external_blob(info.urls)
            if found is not None:
                return found
        digest_mod.validate(info.digest)
        path = repo_path(self.physical, "blobs", info.digest)
        log.debug(f"Downloading {path}")
        resp = self._get_following_redirects(path)
        if resp.status_code != 200:
            err = error_from(resp)
            raise err.wrap("fetching blob") from None
        record_location(self.ctx, info.digest, self.physical)
        reader = BlobReader(self.client, path, resp, f"blob {info.digest}")
        return reader, blob_size(resp)

    def _get_following_redirects(self, path: str) -> http.Response:
        return get_blob_response(self.client, path)

    def _get_external_blob(self, urls: tuple[str, ...]) -> tuple[BlobStream, int] | None:
        errors = []
        for u in urls:
            try:
                url = http.URL(u)
            except http.InvalidURL:
                continue  # as upstream: a URL that does not parse is skipped
            if url.scheme not in ("http", "https"):
                continue
            # Never authenticate to foreign-layer URLs: they could steal credentials (CVE-2020-15157).
            try:
                resp = self.client.request("GET", url, auth=False)
            except SkopeoError as e:
                errors.append(str(e))
                continue
            if resp.status_code != 200:
                resp.close()
                errors.append(
                    f'error fetching external blob from "{u}": received unexpected HTTP status: '
                    f"{resp.status_code} {resp.reason_phrase}"
                )
                continue
            return BlobReader(self.client, u, resp, f"blob from {u}"), blob_size(resp)
        if not errors:
            return None
        raise SkopeoError(f"failed fetching external blob from all urls: {', '.join(errors)}")

    def repo_tags(self) -> list[str] | None:
        try:
            return list_repository_tags(self.ctx, self.reference.ref)
        except RegistryError as e:
            if e.code == "DENIED" or (e.code == "UNKNOWN" and e.registry_message == "404 page not found"):
                log.warning("Registry disallows tag list retrieval; skipping")
                return []
            raise

    def close(self) -> None:
        pass  # connections stay pooled for the process
