"""OCI image layer encryption, compatible with containers/ocicrypt (what
``copy --encryption-key`` / ``--decryption-key`` use): the layer cipher
(``blockcipher``), the layer's annotations and key wrapping (``layer``), the
key wrappers ``jwe``, ``pkcs7``, ``pgp`` and key providers (``keyprovider``),
key files (``keys``) and the configuration built from the flags (``config``).

Imported only when a copy encrypts or decrypts."""
