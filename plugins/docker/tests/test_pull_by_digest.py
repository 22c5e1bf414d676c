"""A pull by digest does not trust the server: a loopback proxy in front of a
real registry answers another manifest for ``GET …/manifests/sha256:X`` (with
``Docker-Content-Digest`` kept, made to match the substitute, or dropped) and
every command refuses it with upstream's wording, exit 1, one fatal line and
no destination that looks complete.  The same for an instance of a list.

Expected texts were recorded from upstream main; when it is built at
``/tmp/skopeo-main`` the same command lines also run through it and must print
the same fatal line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_image, make_multiarch
from skopeo.testing.registry import Fault, Registry

from .conftest import Runner

UPSTREAM_MAIN = os.environ.get("SKOPEO_UPSTREAM_MAIN", "/tmp/skopeo-main")

pytestmark = pytest.mark.slow


class Pushed(NamedTuple):
    single: str  # digest of repo:single
    other: bytes  # another image's manifest (the substitute)
    other_digest: str
    listed: str  # digest of repo:multi (an OCI index)
    instances: list[str]
    instance_bodies: list[bytes]


@pytest.fixture
def pushed(registry: Registry, skopeo: Runner, tmp_path: Path) -> Pushed:
    make_image(str(tmp_path / "oci"), "single", seed=11)
    make_image(str(tmp_path / "oci"), "other", seed=12)
    make_multiarch(str(tmp_path / "oci"), "multi")
    for tag in ("single", "other", "multi"):
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'oci'}:{tag}",
               f"docker://{registry.host}/repo:{tag}", check=True)

    def raw(ref: str) -> bytes:
        proc = subprocess.run([*_ours(), "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{ref}"],
                              capture_output=True, check=True)
        return proc.stdout

    def digest(data: bytes) -> str:
        import hashlib

        return "sha256:" + hashlib.sha256(data).hexdigest()

    index = raw("repo:multi")
    instances = [m["digest"] for m in json.loads(index)["manifests"]]
    bodies = [raw(f"repo@{d}") for d in instances]
    other = raw("repo:other")
    return Pushed(digest(raw("repo:single")), other, digest(other), digest(index), instances, bodies)


def _ours() -> list[str]:
    from skopeo.testing.fixtures import skopeo_command

    return [*skopeo_command(), "--insecure-policy"]


def _substituting(faulty_proxy: Any, registry: Registry, digest: str, body: bytes, header: str) -> Any:
    return faulty_proxy(registry.port, faults=[
        Fault(f"GET .*/manifests/{digest}", "substitute", body=body, header_digest=header, times=None)])


def _check(proc: subprocess.CompletedProcess[str], expected: str, args: tuple[str, ...], tmp: Path,
           cwd: Path | None = None) -> None:
    """Exit 1 with *expected* as the one fatal line; upstream main too when
    built (its paths under *tmp* get a ``main-`` prefix: ours are left as they are)."""
    assert proc.returncode == 1, proc.stderr
    assert fatal_message(proc.stderr) == expected
    if os.path.exists(UPSTREAM_MAIN):
        theirs_args = [a.replace(f"{tmp}/", f"{tmp}/main-") for a in args]
        if cwd is not None:
            cwd = tmp / "main-cwd"
            cwd.mkdir(exist_ok=True)
        theirs = subprocess.run([UPSTREAM_MAIN, "--insecure-policy", *theirs_args], capture_output=True, text=True,
                                timeout=120, cwd=cwd)
        assert theirs.returncode == 1, theirs.stderr
        assert fatal_message(theirs.stderr) == expected


HEADERS = ["keep", "match", "drop"]


@pytest.mark.parametrize("header", HEADERS)
def test_copy_sync_inspect_layers_refuse_a_substituted_manifest(
        header: str, registry: Registry, faulty_proxy: Any, pushed: Pushed, skopeo: Runner, tmp_path: Path) -> None:
    proxy = _substituting(faulty_proxy, registry, pushed.single, pushed.other, header)
    ref = f"docker://{proxy.host}/repo@{pushed.single}"
    mismatch = f"Manifest does not match provided manifest digest {pushed.single}"

    copying = f"determining manifest MIME type for {ref}: {mismatch}"
    retrieving = f"Error retrieving manifest for image: {mismatch}"
    work = tmp_path / "work"
    work.mkdir()
    cases: list[tuple[tuple[str, ...], str, Path | None]] = [
        (("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref, dest), copying, None)
        for dest in (f"dir:{tmp_path}/d", f"oci:{tmp_path}/o:t", f"docker://{registry.host}/copied:t")
    ]
    cases += [
        (("inspect", "--tls-verify=false", ref), retrieving, None),
        (("inspect", "--raw", "--tls-verify=false", ref), retrieving, None),
        (("inspect", "--config", "--tls-verify=false", ref), retrieving, None),
        (("layers", "--tls-verify=false", ref), mismatch, work),
        (("sync", "--src-tls-verify=false", "--src", "docker", "--dest", "dir", f"{proxy.host}/repo@{pushed.single}",
          str(tmp_path / "synced")), f'Error copying ref "{ref}": {copying}', None),
    ]
    for args, expected, cwd in cases:
        _check(skopeo(*args, cwd=cwd), expected, args, tmp_path, cwd)
    # Nothing that looks like a copied image anywhere.
    assert not (tmp_path / "d" / "manifest.json").exists()
    assert not (tmp_path / "o" / "index.json").exists()
    assert list(work.iterdir()) == []
    assert not list((tmp_path / "synced").rglob("manifest.json"))
    missing = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/copied:t")
    assert missing.returncode != 0
    # Through the proxy the tag still works (the fault only hits the digest).
    assert skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{proxy.host}/repo:single").returncode == 0


@pytest.mark.parametrize("header", HEADERS)
def test_delete_by_digest_refuses_a_substituted_manifest(
        header: str, registry: Registry, faulty_proxy: Any, pushed: Pushed, skopeo: Runner) -> None:
    """Deleting X must never delete the image the server answered instead
    (upstream deletes whatever digest the answer has: a deliberate difference)."""
    proxy = _substituting(faulty_proxy, registry, pushed.single, pushed.other, header)
    proc = skopeo("delete", "--tls-verify=false", f"docker://{proxy.host}/repo@{pushed.single}")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f"Manifest does not match provided manifest digest {pushed.single}"
    assert not any(m == "DELETE" for m, _, _ in proxy.requests)
    for digest in (pushed.single, pushed.other_digest):
        assert skopeo("inspect", "--raw", "--tls-verify=false",
                      f"docker://{registry.host}/repo@{digest}").returncode == 0


@pytest.mark.parametrize("header", HEADERS)
def test_instances_of_a_list_are_checked(
        header: str, registry: Registry, faulty_proxy: Any, pushed: Pushed, skopeo: Runner, tmp_path: Path) -> None:
    """The amd64 instance is answered with another instance's manifest: the
    copy engine and the image loader word it as upstream does."""
    victim = pushed.instances[0]
    proxy = _substituting(faulty_proxy, registry, victim, pushed.instance_bodies[1], header)
    for ref in (f"docker://{proxy.host}/repo@{pushed.listed}", f"docker://{proxy.host}/repo:multi"):
        mismatch = f"determining manifest MIME type for {ref}: Manifest does not match provided manifest digest {victim}"
        selected = f"Image manifest does not match selected manifest digest {victim}"
        args: tuple[str, ...] = ("--override-arch", "amd64", "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path}/d")
        _check(skopeo(*args), f"copying system image from manifest list: {mismatch}", args, tmp_path)
        args = ("copy", "--all", "--src-tls-verify=false", ref, f"oci:{tmp_path}/o:t")
        proc = skopeo(*args)
        _check(proc, f"copying image 1/3 from manifest list: {mismatch}", args, tmp_path)
        assert proc.stdout.splitlines()[-1] == f"Copying image {victim} (1/3)"
        args = ("--override-arch", "amd64", "inspect", "--tls-verify=false", ref)
        _check(skopeo(*args), f"Error parsing manifest for image: {selected}", args, tmp_path)
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        args = ("--override-arch", "amd64", "layers", "--tls-verify=false", ref)
        _check(skopeo(*args, cwd=work), selected, args, tmp_path, work)
        assert list(work.iterdir()) == []
    assert not (tmp_path / "d" / "manifest.json").exists()
    assert not (tmp_path / "o" / "index.json").exists()


def test_second_instance_fails_after_the_first_completes(
        registry: Registry, faulty_proxy: Any, pushed: Pushed, skopeo: Runner, tmp_path: Path) -> None:
    """Instances copy in parallel, yet the output is upstream's sequential one:
    instance 1's lines, then instance 2's header, then the failure."""
    victim = pushed.instances[1]
    proxy = _substituting(faulty_proxy, registry, victim, pushed.instance_bodies[0], "keep")
    ref = f"docker://{proxy.host}/repo:multi"
    args = ("copy", "--all", "--src-tls-verify=false", ref, f"oci:{tmp_path}/o:t")
    proc = skopeo(*args)
    _check(proc, f"copying image 2/3 from manifest list: determining manifest MIME type for {ref}: "
                 f"Manifest does not match provided manifest digest {victim}", args, tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["Getting image list signatures", "Copying 3 images generated from 3 images in list",
                         f"Copying image {pushed.instances[0]} (1/3)"]
    assert lines[-2:] == ["Writing manifest to image destination", f"Copying image {victim} (2/3)"]
    assert not any(pushed.instances[2] in line for line in lines)


def test_image_proxy_refuses_a_substituted_manifest(
        registry: Registry, faulty_proxy: Any, pushed: Pushed, policy_file: Path) -> None:
    from skopeo.testing.fixtures import skopeo_command
    from skopeo.testing.imageproxy import ProxyClient

    proxy = _substituting(faulty_proxy, registry, pushed.single, pushed.other, "match")
    with ProxyClient([*skopeo_command(), "--policy", str(policy_file)], ("--tls-verify=false",)) as client:
        client.call("Initialize")
        reply = client.call_reply("OpenImage", f"docker://{proxy.host}/repo@{pushed.single}")
        assert not reply.success
        assert reply.error == f"Manifest does not match provided manifest digest {pushed.single}"
        assert client.call("OpenImage", f"docker://{proxy.host}/repo:single").value > 0


def test_signatures_are_not_looked_up_for_a_substituted_manifest(
        registry: Registry, faulty_proxy: Any, pushed: Pushed, skopeo: Runner, tmp_path: Path) -> None:
    """The lookaside holds an (unreadable) signature for X: the manifest check
    comes first, so no signature is read, parsed or copied."""
    lookaside = tmp_path / "lookaside"
    regd = tmp_path / "registries.d"
    regd.mkdir()
    proxy = _substituting(faulty_proxy, registry, pushed.single, pushed.other, "keep")
    (regd / "r.yaml").write_text(f"docker:\n  {proxy.host}:\n    lookaside: file://{lookaside}\n")
    sig_dir = lookaside / f"repo@{pushed.single.replace(':', '=')}"
    sig_dir.mkdir(parents=True)
    (sig_dir / "signature-1").write_bytes(b"not a signature")
    ref = f"docker://{proxy.host}/repo@{pushed.single}"
    proc = skopeo("--registries.d", str(regd), "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path}/d")
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == (
        f"determining manifest MIME type for {ref}: Manifest does not match provided manifest digest {pushed.single}")
    assert "Getting image source signatures" not in proc.stdout
    assert not (tmp_path / "d" / "signature-1").exists()
