"""containers-storage: references: grammar, errors and policy identities as
upstream main (messages recorded from skopeo built from upstream main; 1.9.3
words some of them differently and exits 1 for a missing image)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skopeo import plugins
from skopeo.errors import InvalidReferenceError
from skopeo.testing.fixtures import fatal_message
from skopeo_storage.transport import StorageTransport, digest_error


@pytest.mark.parametrize(("rest", "message", "code"), [
    ("", '"" is an empty reference: invalid reference', 1),
    ("@", 'empty trailing digest or ID in "@": invalid reference', 1),
    ("foo@", 'empty trailing digest or ID in "foo@": invalid reference', 1),
    ("foo@sha256:abc", '"sha256:abc" does not look like an image ID or digest: invalid reference', 1),
    ("foo:bar:baz", 'parsing named reference "foo:bar:baz": invalid reference format', 1),
    ("UPPER", 'parsing named reference "UPPER": invalid reference format: repository name must be lowercase', 1),
    ("[x", 'store specifier in "[x" did not end: invalid reference', 1),
    ("@aaaa", '"aaaa" does not look like an image ID or digest: invalid reference', 1),
    ("[x]foo", 'reference "{spec}docker.io/library/foo:latest" does not resolve to an image ID', 2),
    ("ab", 'reference "{spec}docker.io/library/ab:latest" does not resolve to an image ID', 2),
    ("foo@" + "0123456789" * 6 + "0123",
     'reading image "{id}": locating image with ID "{id}": image not known', 1),
])
def test_parse_errors(tmp_path: Path, run_skopeo, rest: str, message: str, code: int) -> None:  # type: ignore[no-untyped-def]
    spec = f"[vfs@{tmp_path}/r+{tmp_path}/u]"
    name = f"containers-storage:{spec}{rest}"
    proc = run_skopeo("inspect", name)
    assert proc.returncode == code, proc.stderr
    expected = message.format(spec=spec, id="0123456789" * 6 + "0123")
    assert fatal_message(proc.stderr) == f'Error parsing image name "{name}": {expected}'


@pytest.mark.parametrize(("spec", "message"), [
    ("[@/x/r]foo", "invalid reference"),
    ("[vfs@]foo", "invalid reference"),
    ("[]foo", "invalid reference"),
    ("[vfs@/x/r", "invalid reference"),
    ("[vfs@/x/r+rel]foo", "path name is not absolute"),
    ("[vfs@rel]foo", "path name is not absolute"),
    ("[vfs@:x]foo", "no storage runroot or graphroot specified: missing necessary StoreOptions"),
])
def test_store_specifier_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as e:
        StorageTransport().parse_reference(spec)
    assert e.value.message == message


def test_store_option_errors(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    for opts, message in (("bogus=1", 'unknown option "bogus" ("bogus=1")'),
                          ("vfs.bogus=1", 'unknown option "bogus" ("vfs.bogus=1")'),
                          ("nope.x=1", 'unknown driver "nope" in option "nope.x=1"')):
        name = f"containers-storage:[vfs@{tmp_path}/r+{tmp_path}/u:{opts}]foo"
        proc = run_skopeo("inspect", name)
        assert proc.returncode == 1
        assert fatal_message(proc.stderr) == f'Error parsing image name "{name}": {message}'


def test_unsupported_driver_is_named(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("inspect", f"containers-storage:[btrfs@{tmp_path}/r+{tmp_path}/u]foo")
    assert proc.returncode == 1
    assert '"btrfs" storage driver is not supported' in fatal_message(proc.stderr)
    proc = run_skopeo("inspect", f"containers-storage:[nosuch@{tmp_path}/r+{tmp_path}/u]foo")
    assert fatal_message(proc.stderr).endswith(f"failed to GetDriver graph nosuch {tmp_path}/r: driver not supported")


def test_string_and_policy_identities(tmp_path: Path) -> None:
    ref = StorageTransport().parse_reference(f"[vfs@{tmp_path}/r+{tmp_path}/u:vfs.ignore_chown_errors=true]"
                                             "quay.io/ns/app:v1@" + "a" * 64)
    spec = f"[vfs@{tmp_path}/r+{tmp_path}/u:vfs.ignore_chown_errors=true]"
    assert ref.string_within_transport() == f"{spec}quay.io/ns/app:v1@{'a' * 64}"
    assert str(ref.docker_reference()) == "quay.io/ns/app:v1"
    scope = f"[vfs@{tmp_path}/r]"
    assert ref.policy_configuration_identity() == f"{scope}quay.io/ns/app:v1@{'a' * 64}"
    assert ref.policy_configuration_namespaces() == [
        f"{scope}quay.io/ns/app:v1", f"{scope}quay.io/ns/app", f"{scope}quay.io/ns", f"{scope}quay.io", scope,
        f"[{tmp_path}/r]",
    ]
    digested = StorageTransport().parse_reference(f"[vfs@{tmp_path}/r+{tmp_path}/u]busybox@sha256:" + "b" * 64)
    assert str(digested.docker_reference()) == "docker.io/library/busybox@sha256:" + "b" * 64


@pytest.mark.parametrize(("scope", "error"), [
    ("[/var/lib/containers]", None),
    ("[vfs@/var/lib/containers]", None),
    ("[vfs@/var/lib/containers]docker.io/library/busybox", None),
    ("[vfs@/var/lib/containers]busybox@sha256:" + "a" * 64, None),
    ("[vfs@/var/lib/containers]busybox@" + "a" * 64, None),
    ("[vfs@/var/lib/containers]busybox@sha256:" + "a" * 64 + "@" + "b" * 64, None),
    ("busybox", "invalid reference"),
    ("[vfs@relative]", "path name is not absolute"),
    ("[relative]", "path name is not absolute"),
    ("[vfs@]", "invalid reference"),
    ("[vfs@/x]busybox@nothex", "nothex is neither a valid digest(invalid checksum digest format) nor a valid "
                               "ID(invalid checksum digest length)"),
])
def test_policy_scopes(scope: str, error: str | None) -> None:
    if error is None:
        StorageTransport().validate_policy_configuration_scope(scope)
    else:
        with pytest.raises(InvalidReferenceError) as e:
            StorageTransport().validate_policy_configuration_scope(scope)
        assert e.value.message == error


@pytest.mark.parametrize(("text", "error"), [
    ("sha256:" + "a" * 64, None), ("sha256:abc", "invalid checksum digest length"),
    ("sha256:" + "A" * 64, "invalid checksum digest format"), ("md5:abcd", "unsupported digest algorithm"),
    ("nocolon", "invalid checksum digest format"), (":x", "invalid checksum digest format"),
])
def test_go_digest_errors(text: str, error: str | None) -> None:
    assert digest_error(text) == error


def test_plugin_registers_the_transport() -> None:
    pm = plugins.new_manager(load_entry_points=False)
    import skopeo_storage

    pm.register(skopeo_storage)
    plugins.set_manager(pm)
    try:
        assert plugins.get_transport("containers-storage").name == "containers-storage"
    finally:
        plugins.set_manager(None)


def test_excluded_by_skopeo_plugins(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("inspect", "containers-storage:busybox", env={"SKOPEO_PLUGINS": "dir"})
    assert proc.returncode == 1
    assert "the skopeo-storage plugin is installed but not loaded" in fatal_message(proc.stderr)
