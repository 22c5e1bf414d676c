"""containers-storage: against the transport conformance suite
(skopeo.testing.conformance), in private stores with each driver (overlay as
root only, as the other storage tests)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from storage_helpers import Store

from skopeo.testing.conformance import TransportConformance


class TestStorageConformance(TransportConformance):
    transport = "containers-storage"
    # Refused before any store is opened (a store spec's directories are
    # created when the name is parsed, as upstream).
    bad_names = ("[vfs@relative+/u]image", "[vfs@/r+/u", "")

    @pytest.fixture
    def new_image_name(self, store: Store) -> Callable[[], str]:
        names = itertools.count()
        return lambda: store.ref(f"localhost/conformance/image-{next(names)}:tag")
