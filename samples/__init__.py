"""This repository's sample images, for its own tests: paths into a source
checkout, never used by the test kit that ships in the skopeo wheel
(``skopeo.testing`` generates its own sample: ``images.write_sample_layout``).
Importable because the root ``conftest.py`` puts the checkout on ``sys.path``
(pytest's ``pythonpath``)."""

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
REPO_ROOT = SAMPLES.parent
# A small OCI layout written by umoci: busybox, tag "hello" (the README's first command).
HELLO_OCI = SAMPLES / "hello-oci"
