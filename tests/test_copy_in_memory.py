"""The copy engine with no transport plugin at all: the in-memory transport
(skopeo.testing.memory) as source and destination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skopeo import api
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.copy import MULTI_ARCH_ALL, CopyOptions
from skopeo.policy import Policy, PolicyContext
from skopeo.testing import memory
from skopeo.testing.conformance import source_image, source_list
from skopeo.testing.fixtures import fatal_message


@pytest.fixture(autouse=True)
def _no_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SKOPEO_PLUGINS", "")
    with memory.enabled():
        yield


def _copy(src: str, dest: str, **options: Any) -> Any:
    return api.copy(src, dest, options=CopyOptions(**options), policy=PolicyContext(Policy.accept_anything()))


def _stored(name: str) -> memory.StoredImage:
    return memory.STORE.image(name.removeprefix("memory:"))


def test_only_memory_is_loaded() -> None:
    from skopeo import plugins

    assert set(plugins.transports()) == {"memory"}


def test_image_copied_as_it_is() -> None:
    src = source_image("oci")
    result = _copy(src, "memory:copy")
    assert _stored("memory:copy").manifest == _stored(src).manifest
    assert result.digest == mf.manifest_digest(_stored(src).manifest)


def test_list_copied_with_all_instances() -> None:
    src = source_list("docker")
    _copy(src, "memory:all", multi_arch=MULTI_ARCH_ALL)
    stored = _stored("memory:all")
    assert stored.manifest == _stored(src).manifest
    parsed = mf.parse(stored.manifest, stored.mime)
    assert isinstance(parsed, mf.ManifestList)
    assert all(d.digest in stored.manifests for d in parsed.instances)


def test_platform_instance_chosen_from_a_list() -> None:
    src = source_list("oci")
    parsed = mf.parse(_stored(src).manifest, mf.OCI_INDEX)
    assert isinstance(parsed, mf.ManifestList)
    arm64 = next(d for d in parsed.instances if d.platform and d.platform.architecture == "arm64")
    result = _copy(src, "memory:arm", source_ctx=SystemContext(override_arch="arm64", override_variant="v8"))
    assert result.digest == arm64.digest


@pytest.mark.parametrize("remove", [False, True])
def test_signatures_copied_unless_removed(remove: bool) -> None:
    signatures = [b"\xa3one", b"\xa3two"]
    _copy(source_image("oci", signatures=signatures), "memory:signed", remove_signatures=remove)
    assert _stored("memory:signed").signatures.get(None, []) == ([] if remove else signatures)


def test_nothing_written_when_the_source_fails() -> None:
    with pytest.raises(Exception, match="no image named memory:absent"):
        _copy("memory:absent", "memory:dest")
    assert "dest" not in memory.STORE.images


def test_never_reachable_from_the_command_line(run_skopeo: Callable[..., Any]) -> None:
    """Upstream has no such transport: the CLI never registers it."""
    proc = run_skopeo("inspect", "memory:anything", env={"SKOPEO_PLUGINS": ""})
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).endswith('unknown transport "memory"')
    assert "memory" not in run_skopeo("--help", env={"SKOPEO_PLUGINS": ""}, check=True).stdout
