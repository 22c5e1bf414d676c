"""The decryption and encryption steps of a layer's pipeline (upstream's
copy/encryption.go): decryption comes first, right after the digest of the
source blob is verified, so that compression decisions see the plaintext;
encryption comes last, after any compression change, so the ciphertext is
what the destination stores.  ocicrypt is imported only when a layer is
encrypted or decrypted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import layertypes as lt
from ..errors import SkopeoError
from ..transport import BlobStream

if TYPE_CHECKING:
    from ..ocicrypt.blockcipher import DecryptingReader
    from ..ocicrypt.config import DecryptConfig, EncryptConfig
    from ..ocicrypt.layer import EncryptedLayer


class LayerCryptoStep:
    """What one layer's copy does about encryption (nothing, decrypt or encrypt)."""

    def __init__(self, digest: str, decrypt: DecryptConfig | None, encrypt: EncryptConfig | None) -> None:
        self.digest = digest
        self._decrypt_config = decrypt
        self._encrypt_config = encrypt
        self._decryptor: DecryptingReader | None = None
        self._encrypted: EncryptedLayer | None = None

    @property
    def operation(self) -> str:
        """layertypes' crypto operation for the layer's edit."""
        if self._decrypt_config is not None:
            return lt.DECRYPT
        return lt.ENCRYPT if self._encrypt_config is not None else ""

    def decrypted(self, reader: BlobStream, annotations: dict[str, str] | None) -> BlobStream:
        if self._decrypt_config is None:
            return reader
        from ..ocicrypt.layer import decrypting_reader

        try:
            self._decryptor = decrypting_reader(reader, self._decrypt_config, annotations or {})
        except SkopeoError as e:
            raise e.wrap(f"decrypting layer {self.digest}") from None
        return self._decryptor

    def encrypted(self, reader: BlobStream) -> BlobStream:
        if self._encrypt_config is None:
            return reader
        from ..ocicrypt.layer import EncryptedLayer

        self._encrypted = EncryptedLayer(reader, self._encrypt_config, self.digest)
        return self._encrypted.reader

    def drain(self) -> bool:
        """Read a decrypted layer to its end, so that its HMAC is checked even
        when the destination stopped reading early; False when not decrypting."""
        if self._decryptor is None:
            return False
        while self._decryptor.read(1 << 20):
            pass
        return True

    def annotations(self) -> dict[str, str]:
        """The encryption annotations of an encrypted layer (after it was stored)."""
        if self._encrypted is None:
            return {}
        try:
            return self._encrypted.annotations()
        except SkopeoError as e:
            raise e.wrap("Unable to finalize encryption") from None
