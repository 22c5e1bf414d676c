"""Parsing oci: references, their string forms and policy scopes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skopeo import plugins
from skopeo.errors import InvalidReferenceError, SkopeoError
from skopeo_oci.transport import OCIReference, OCITransport


def parse(text: str) -> OCIReference:
    ref = plugins.parse_image_name(text)
    assert isinstance(ref, OCIReference)
    return ref


def test_registered_through_entry_point() -> None:
    assert isinstance(plugins.transports()["oci"], OCITransport)


@pytest.mark.parametrize(
    ("text", "path", "image", "index"),
    [
        ("oci:/tmp", "/tmp", "", -1),
        ("oci:/tmp:", "/tmp", "", -1),
        ("oci:/tmp:tag", "/tmp", "tag", -1),
        # PATH ends at the first ":"; the rest, colons included, is the reference.
        ("oci:/tmp:example.com/ns/img:v1.2", "/tmp", "example.com/ns/img:v1.2", -1),
        ("oci:/tmp:a--b_c+d@e.f:g", "/tmp", "a--b_c+d@e.f:g", -1),
        ("oci:/tmp:@0", "/tmp", "", 0),
        ("oci:/tmp:@12", "/tmp", "", 12),
        ("oci:/tmp:@+3", "/tmp", "", 3),
    ],
)
def test_parse(text: str, path: str, image: str, index: int) -> None:
    ref = parse(text)
    assert (ref.path, ref.image, ref.source_index) == (path, image, index)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oci:/tmp:Bad Name", "Invalid image Bad Name"),
        ("oci:/tmp:-lead", "Invalid image -lead"),
        ("oci:/tmp:a/", "Invalid image a/"),
        ("oci:/tmp:a//b", "Invalid image a//b"),
        ("oci:/tmp:a__b", "Invalid image a__b"),
        ("oci:/tmp:@x", 'Invalid source index @x: not an integer: strconv.Atoi: parsing "x": invalid syntax'),
        ("oci:/tmp:@", 'Invalid source index @: not an integer: strconv.Atoi: parsing "": invalid syntax'),
        ("oci:/tmp:@-1", "Invalid source index @-1: must not be negative"),
        ("oci:/nonexistent-parent-dir/x/y:t", "lstat /nonexistent-parent-dir: no such file or directory"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse(text)
    assert info.value.message == message


def test_string_forms() -> None:
    assert str(parse("oci:/tmp:tag")) == "oci:/tmp:tag"
    assert str(parse("oci:/tmp")) == "oci:/tmp:"
    assert str(parse("oci:/tmp:@3")) == "oci:/tmp:@3"
    assert parse("oci:/tmp:tag").docker_reference() is None


def test_policy_identity_ignores_reference(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "layout").mkdir(parents=True)
    os.symlink(real, tmp_path / "link")
    ref = parse(f"oci:{tmp_path}/link/layout:tag")
    expected = str((real / "layout").resolve())
    assert ref.policy_configuration_identity() == expected
    assert parse("oci:link/layout").policy_configuration_identity() == expected
    namespaces = ref.policy_configuration_namespaces()
    # Upstream lists the layout itself first, then each parent; never "/".
    assert namespaces[0] == expected
    assert namespaces[1] == str(real.resolve())
    assert "/" not in namespaces
    assert all(expected.startswith(n) for n in namespaces)


def test_policy_identity_of_missing_layout(tmp_path: Path) -> None:
    assert parse("oci:new:x").policy_configuration_identity() == str(tmp_path.resolve() / "new")


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("relative", "Invalid scope relative: must be an absolute path"),
        ("/", 'Invalid scope "/": Use the generic default scope ""'),
        ("/a/../b", "Invalid scope /a/../b: Uses non-canonical path format, perhaps try with path /b"),
        ("/a/", "Invalid scope /a/: Uses non-canonical path format, perhaps try with path /a"),
    ],
)
def test_scope_validation(scope: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        OCITransport().validate_policy_configuration_scope(scope)
    assert info.value.message == message


def test_valid_scope() -> None:
    OCITransport().validate_policy_configuration_scope("/var/lib/images")


def test_destination_rejects_source_index(sample: Path) -> None:
    from skopeo.context import SystemContext

    with pytest.raises(SkopeoError) as info:
        parse(f"oci:{sample}:@0").new_image_destination(SystemContext())
    assert info.value.message == "Destination reference must not contain a manifest index @0"
