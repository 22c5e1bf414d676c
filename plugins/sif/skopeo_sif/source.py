"""The ``sif:`` image source: the SIF converted when opened (see ``convert.py``),
served as one OCI image with one uncompressed layer."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile

from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.fsutil import track_temporary, untrack_temporary
from skopeo.golang import gojson
from skopeo.golang.oserror import path_error_text
from skopeo.transport import BlobInfo, BlobStream, ImageSource, SourceCapabilities

from . import convert, siffile
from .transport import SifReference


def build_config(image: siffile.SIFImage, command: str, diff_id: str) -> bytes:
    """The image config upstream builds (Go's field order)."""
    created = gojson.time_text(image.modified_at * 1_000_000_000)
    return gojson.marshal({
        "created": created,
        "architecture": image.arch,
        "os": "linux",
        "config": {"Cmd": [command]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{diff_id.split(':', 1)[1]} in /",
             "comment": f"imported from SIF, uuid: {image.id}"},
            # Upstream's text, whatever the command is.
            {"created": created, "created_by": '/bin/sh -c #(nop) CMD ["bash"]', "empty_layer": True},
        ],
    })


def build_manifest(config: bytes, layer_digest: str, layer_size: int) -> bytes:
    return gojson.marshal({
        "schemaVersion": 2,
        "mediaType": mf.OCI_MANIFEST,
        "config": {"mediaType": mf.OCI_CONFIG, "digest": f"sha256:{hashlib.sha256(config).hexdigest()}",
                   "size": len(config)},
        "layers": [{"mediaType": mf.OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    })


def _remove_tree(path: str) -> None:
    """Remove a work directory even where the extracted tree left directories
    without write permission."""
    def retry(func: object, target: str, _exc: object) -> None:
        try:
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
                shutil.rmtree(target, ignore_errors=True)
            else:
                os.remove(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)
    untrack_temporary(path)


class SifSource(ImageSource):
    reference: SifReference
    capabilities = SourceCapabilities(thread_safe_get_blob=True)

    def __init__(self, reference: SifReference, ctx: SystemContext) -> None:
        super().__init__(reference)
        try:
            fd = os.open(reference.file, os.O_RDONLY)
        except OSError as e:
            raise SkopeoError(f"loading SIF file: {path_error_text('open', reference.file, e)}") from None
        try:
            try:
                image = siffile.load(fd, reference.file)
            except siffile.SIFError as e:
                raise e.wrap("loading SIF file") from None
            try:
                self.work_dir = track_temporary(tempfile.mkdtemp(prefix="container_images_sif", dir=ctx.tmp_directory()))
            except OSError as e:
                raise SkopeoError(f"creating temp directory: {path_error_text('mkdirtemp', ctx.tmp_directory(), e)}") from None
            try:
                self.layer_path, command = self._convert(image, fd)
                self.layer_digest, self.layer_size = self._blob_info(self.layer_path)
            except BaseException:
                _remove_tree(self.work_dir)
                raise
        finally:
            os.close(fd)
        self.config = build_config(image, command, self.layer_digest)
        self.config_digest = f"sha256:{hashlib.sha256(self.config).hexdigest()}"
        self.manifest = build_manifest(self.config, self.layer_digest, self.layer_size)

    def _convert(self, image: siffile.SIFImage, fd: int) -> tuple[str, str]:
        """(layer tar path, command); errors as upstream's convertSIFToElements."""
        squashfs = os.path.join(self.work_dir, "rootfs.squashfs")
        try:
            command, script = convert.command_and_script(image, fd)
            try:
                rootfs = image.get_descriptor(partition_type=siffile.PART_PRIMSYS)
            except siffile.SIFError as e:
                raise e.wrap("looking up rootfs from SIF file") from None
            with open(squashfs, "wb") as out:
                siffile.copy_object(fd, rootfs, out)
            tar_path = convert.squashfs_to_tar(self.work_dir, squashfs, script)
        except SkopeoError as e:
            raise e.wrap("converting rootfs from SquashFS to Tarball") from None
        except OSError as e:
            raise SkopeoError(f"converting rootfs from SquashFS to Tarball: {e.strerror or e}") from None
        finally:
            try:
                os.remove(squashfs)
            except OSError:
                pass
        return tar_path, command

    @staticmethod
    def _blob_info(path: str) -> tuple[str, int]:
        try:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256")
                size = f.tell()
        except OSError as e:
            raise SkopeoError(f"gathering blob information: reading {gojson.quote(path.encode())}: {e.strerror or e}") from None
        return f"sha256:{digest.hexdigest()}", size

    def get_manifest(self, instance_digest: str | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise SkopeoError("manifest lists are not supported by the sif transport")
        return self.manifest, mf.OCI_MANIFEST

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest == self.config_digest:
            return io.BytesIO(self.config), len(self.config)
        if info.digest == self.layer_digest:
            try:
                return open(self.layer_path, "rb"), self.layer_size
            except OSError as e:
                raise SkopeoError(f"opening {gojson.quote(self.layer_path.encode())}: {e.strerror or e}") from None
        raise SkopeoError(f'no blob with digest "{info.digest}" found')

    def close(self) -> None:
        _remove_tree(self.work_dir)
