"""Reading an image from an OSTree repository (layout: ``reference.py``).

A layer's original blob is not kept, only its files and tar-split metadata,
so a layer can be served only as the uncompressed tar rebuilt from them.  As
upstream's ``LayerInfosForCopy`` did, the manifest this source presents names
each layer by its uncompressed digest and size (``docker.uncompressed_*``),
keeping the stored media type; a manifest whose layers were stored
uncompressed is presented byte for byte.  Signatures cover the stored
manifest, so an image that has some and whose layers were compressed cannot
be copied without ``--remove-signatures``, as upstream.
"""

from __future__ import annotations

from skopeo import manifest as mf
from skopeo.errors import SkopeoError
from skopeo.transport import BlobInfo, BlobStream, ImageSource, SourceCapabilities

from . import tarsplit
from .reference import OstreeReference, layer_branch
from .repo import Repo

NO_LISTS = 'Manifest lists are not supported by "ostree:"'
WOULD_INVALIDATE = 'Copying this image would require changing layer representation, which we cannot do: "Would invalidate signatures"'


class OstreeSource(ImageSource):
    reference: OstreeReference
    capabilities = SourceCapabilities(thread_safe_get_blob=False)

    def __init__(self, reference: OstreeReference) -> None:
        super().__init__(reference)
        self._repo: Repo | None = None
        self._stored: bytes | None = None
        self._presented: tuple[bytes, str] | None = None
        # uncompressed layer digest → the blob digest its branch is named by
        self._compressed: dict[str, str] = {}

    @property
    def repo(self) -> Repo:
        if self._repo is None:
            self._repo = Repo(self.reference.repo)
        return self._repo

    def _metadata(self, branch: str, key: str) -> str:
        value = self.repo.metadata(branch, key)
        if value is None:
            raise SkopeoError(f"{key} not found in the commit metadata of {branch}")
        return value

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise SkopeoError(NO_LISTS)
        if self._presented is None:
            stored = self.repo.metadata(self.reference.image_branch, "docker.manifest")
            if stored is None:
                raise SkopeoError("manifest not found")
            self._stored = stored.encode("utf-8", "surrogateescape")
            self._presented = self._with_uncompressed_layers(self._stored)
        return self._presented

    def _with_uncompressed_layers(self, stored: bytes) -> tuple[bytes, str]:
        mime = mf.guess_mime(stored)
        parsed = mf.parse(stored, mime)
        if not isinstance(parsed, mf.ImageManifest):
            return stored, mime
        layers = []
        for layer in parsed.layers:
            branch = layer_branch(layer.digest)
            digest = self._metadata(branch, "docker.uncompressed_digest")
            size_text = self._metadata(branch, "docker.uncompressed_size")
            try:
                size = int(size_text)
            except ValueError:
                raise SkopeoError(f'strconv.ParseInt: parsing "{size_text}": invalid syntax') from None
            self._compressed[digest] = layer.digest
            layers.append(layer._replace(digest=digest, size=size))
        if layers == parsed.layers or parsed.config is None:
            return stored, mime
        return parsed.serialize(layers=layers), mime

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        if self._presented is None:
            self.get_manifest()
        blob = self._compressed.get(info.digest)
        branch = layer_branch(blob or info.digest)
        if self.repo.resolve(branch) is None:
            raise SkopeoError(f'no blob with digest "{info.digest}" found')
        size_text = self.repo.metadata(branch, "docker.uncompressed_size" if blob else "docker.size")
        size = int(size_text) if size_text and size_text.isdigit() else -1
        split = self.repo.metadata(branch, "tarsplit.output")
        if split is None:  # not a layer: the blob is the file /content
            return self.repo.open_file(branch, "/content"), size
        import base64
        import binascii

        try:
            metadata = base64.b64decode(split, validate=True)
        except binascii.Error:
            raise SkopeoError(f"tarsplit.output of {branch} is not base64") from None
        chunks = tarsplit.assemble(metadata, lambda name: self.repo.open_file(branch, name))
        return tarsplit.ChunksReader(chunks), size

    def get_signatures(self, instance_digest: str | None = None) -> list[bytes]:
        if instance_digest is not None:
            raise SkopeoError(NO_LISTS)
        count_text = self.repo.metadata(self.reference.image_branch, "signatures")
        count = int(count_text) if count_text and count_text.isdigit() else 0
        signatures = []
        for i in range(1, count + 1):
            stream = self.repo.open_file(self.reference.image_branch, f"/signature-{i}")
            try:
                signatures.append(stream.read())
            finally:
                stream.close()
        if signatures:
            presented, _ = self.get_manifest()
            if presented != self._stored:
                raise SkopeoError(WOULD_INVALIDATE)
        return signatures
