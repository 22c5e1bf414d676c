import pytest

from skopeo.errors import InvalidReferenceError
from skopeo.reference import parse_normalized, parse_normalized_named_strict


@pytest.mark.parametrize(
    ("text", "expected", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "busybox"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar", "foo/bar"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("quay.io/ns/repo@sha256:" + "a" * 64, "quay.io/ns/repo@sha256:" + "a" * 64, None),
        ("quay.io/ns/repo:t@sha256:" + "b" * 64, "quay.io/ns/repo:t@sha256:" + "b" * 64, None),
        ("a__b-c/e", "docker.io/a__b-c/e", None),
    ],
)
def test_normalization(text: str, expected: str, familiar: str | None) -> None:
    ref = parse_normalized(text)
    assert str(ref) == expected
    if familiar is not None:
        assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Busybox", "repository name must be lowercase"),
        ("foo/Bar", "repository name must be lowercase"),
        ("", "^invalid reference format$"),
        ("[::1]:5000/x", "^invalid reference format$"),  # containers/image's grammar has no IPv6 hosts
        ("foo@SHA256:" + "0" * 64, "^invalid reference format: repository name must be lowercase$"),
        ("foo@sha999:" + "0" * 64, "^unsupported digest algorithm$"),
        ("foo@sha512:" + "0" * 64, "^invalid checksum digest length$"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("foo:bad tag", "invalid reference format"),
        ("foo@sha256:abc", "invalid reference format"),
        ("foo//bar", "invalid reference format"),
        ("x/" + "a" * 260, "^repository name must not be more than 255 characters$"),
        ("a__b-c.d/e", "canonical|invalid reference format"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_normalized(text)


def test_strict_requires_canonical() -> None:
    assert str(parse_normalized_named_strict("docker.io/library/x:1")) == "docker.io/library/x:1"
    with pytest.raises(InvalidReferenceError, match="must be canonical"):
        parse_normalized_named_strict("demo:one")


def test_tag_name_only_adds_latest() -> None:
    assert str(parse_normalized("x").tag_name_only()) == "docker.io/library/x:latest"
    ref = parse_normalized("x:1")
    assert ref.tag_name_only() is ref
