"""docker-daemon: against the transport conformance suite
(skopeo.testing.conformance), on real podman and dockerd instances with private
roots (see conftest.py)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from skopeo.context import SystemContext
from skopeo.errors import SkopeoError
from skopeo.testing.conformance import TransportConformance


class TestDaemonConformance(TransportConformance):
    transport = "docker-daemon"
    bad_names = ("UPPER/case:tag", "image", "sha256:short")
    missing_image_error = SkopeoError
    # The engine loads a docker-archive: every layer described as tar.gzip
    # although uncompressed, as upstream.
    layer_media_types_match_content = False

    @pytest.fixture
    def new_image_name(self, daemon: Any) -> Callable[[], str]:
        names = itertools.count()
        run = uuid.uuid4().hex[:8]
        return lambda: f"docker-daemon:localhost/conformance-{run}/image-{next(names)}:tag"

    @pytest.fixture
    def context(self, daemon: Any) -> SystemContext:
        return SystemContext(daemon_host=daemon.host)

    def test_runtime_os(self, new_image_name: Callable[[], str], context: SystemContext, daemon: Any) -> None:
        """With a daemon host given, must_match_runtime_os is False (upstream's
        rule: the copy engine does not check the OS).  podman then stores an
        image for another OS; dockerd refuses it itself, and the copy fails."""
        if daemon.kind == "podman":
            super().test_runtime_os(new_image_name, context)
            return
        from skopeo.testing.conformance import source_image

        name = new_image_name()
        assert not self._dest_capabilities(name, context).must_match_runtime_os
        with pytest.raises(SkopeoError):
            self._copy_in(source_image("docker", os_="plan9"), name, context)
