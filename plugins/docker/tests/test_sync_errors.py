"""``skopeo sync`` failures compared with the reference: the first failed image
stops the sync (nothing new starts), --keep-going reports each failure as a
logrus ``error=`` field when it happens, tag-listing failures name the
repository, a registry refusing the tag list (401) is a warning, and
destination names are checked before anything is copied."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.policy import Policy, PolicyContext
from skopeo.testing.images import make_image
from skopeo.testing.registry import Fault, Registry

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())
NOTLS = ("--src-tls-verify=false", "--dest-tls-verify=false")


def ctx(**kwargs: str) -> SystemContext:
    return SystemContext(tls_verify=False, **kwargs)  # type: ignore[arg-type]


def push(src: str, dest: str, dest_ctx: SystemContext | None = None) -> None:
    api.copy(src, dest, options=CopyOptions(source_ctx=ctx(), dest_ctx=dest_ctx or ctx()), policy=ACCEPT)


def layer_of(name: str) -> str:
    return str(api.inspect(name, ctx(), no_tags=True)["Layers"][0])


@pytest.fixture
def broken(registry: Registry, faulty_proxy, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``brk/img`` with three tags (distinct one-layer images), reached through a
    proxy that answers 404 for the layer of the one listed second.  Returns
    (proxy, tags in listing order, the broken tag)."""
    layout = tmp_path / "images"
    for i, tag in enumerate(("zgood", "bad", "good")):
        make_image(str(layout), tag, seed=90 + i, layers=1)
        push(f"oci:{layout}:{tag}", f"docker://{registry.host}/brk/img:{tag}")
    tags = api.list_tags(f"docker://{registry.host}/brk/img", ctx())["Tags"]
    bad = tags[1]
    blob = layer_of(f"docker://{registry.host}/brk/img:{bad}")
    proxy = faulty_proxy(registry.port, "none", [Fault(rf"^GET .*/blobs/{blob}", status=404, times=None)])
    return proxy, tags, bad


def dir_outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if (p / "manifest.json").exists()) if out.exists() else []


@pytest.mark.oracle
def test_first_failure_stops_the_sync(broken, skopeo: Runner, reference_skopeo: Runner, tmp_path: Path) -> None:
    proxy, tags, bad = broken
    runs = {}
    for who, run in (("ours", skopeo), ("reference", reference_skopeo)):
        out = tmp_path / who
        extra = ("--parallel-images", "1") if who == "ours" else ()
        proc = run("sync", *extra, *NOTLS, "--src", "docker", "--dest", "dir", f"{proxy.host}/brk/img", str(out))
        assert proc.returncode == 1, proc.stderr
        runs[who] = proc
        # Only the image before the broken one was copied; the one after never started.
        assert dir_outputs(out) == [f"img:{tags[0]}"]
        assert "Copying image ref 2/3" in proc.stderr and "Copying image ref 3/3" not in proc.stderr
    prefix = f'Error copying ref "docker://{proxy.host}/brk/img:{bad}": reading blob sha256:'
    for proc in runs.values():
        assert fatal_message(proc.stderr).startswith(prefix)


def test_first_failure_stops_parallel_copies(registry: Registry, faulty_proxy, skopeo: Runner,
                                             tmp_path: Path) -> None:
    """With several copies at once, the ones queued behind a failure never start."""
    layout = tmp_path / "images"
    names = [f"t{i}" for i in range(5)]
    for i, tag in enumerate(names):
        make_image(str(layout), tag, seed=120 + i, layers=1)
        push(f"oci:{layout}:{tag}", f"docker://{registry.host}/par/img:{tag}")
    tags = api.list_tags(f"docker://{registry.host}/par/img", ctx())["Tags"]
    first, second = (layer_of(f"docker://{registry.host}/par/img:{t}") for t in tags[:2])
    proxy = faulty_proxy(registry.port, "none", [
        Fault(rf"^GET .*/blobs/{first}", status=404, times=None),
        Fault(rf"^GET .*/blobs/{second}", action="delay", delay=1.5, times=None),
    ])
    out = tmp_path / "out"
    proc = skopeo("sync", "--parallel-images", "2", *NOTLS, "--src", "docker", "--dest", "dir",
                  f"{proxy.host}/par/img", str(out))
    assert proc.returncode == 1
    assert fatal_message(proc.stderr).startswith(f'Error copying ref "docker://{proxy.host}/par/img:{tags[0]}"')
    started = re.findall(r"Copying image ref (\d)/5", proc.stderr)
    assert sorted(started) == ["1", "2"], proc.stderr
    # The copy already running when the first one failed was allowed to finish.
    assert dir_outputs(out) == [f"img:{tags[1]}"]


@pytest.mark.oracle
def test_keep_going_error_line(broken, skopeo: Runner, reference_skopeo: Runner, tmp_path: Path) -> None:
    proxy, tags, bad = broken
    line = re.compile(
        r'level=error msg="Error copying ref \\"docker://' + re.escape(f"{proxy.host}/brk/img:{bad}") + r'\\""'
        r' error="reading blob sha256:[0-9a-f]{64}: [^"]+"$'
    )
    for who, run in (("ours", skopeo), ("reference", reference_skopeo)):
        out = tmp_path / who
        extra = ("--parallel-images", "1") if who == "ours" else ()
        proc = run("sync", *extra, "--keep-going", *NOTLS, "--src", "docker", "--dest", "dir",
                   f"{proxy.host}/brk/img", str(out))
        assert proc.returncode == 1
        assert fatal_message(proc.stderr) == "Sync failed due to previous reported error(s) for one or more images"
        lines = proc.stderr.splitlines()
        errors = [i for i, x in enumerate(lines) if "level=error" in x]
        assert len(errors) == 1 and line.search(lines[errors[0]]), (who, proc.stderr)
        # Reported when it happened: before the next image is announced.
        assert "Copying image ref 3/3" in lines[errors[0] + 1], (who, proc.stderr)
        assert "Synced 2 images from 1 sources" in proc.stderr
        assert dir_outputs(out) == sorted(f"img:{t}" for t in tags if t != bad)


@pytest.mark.oracle
@pytest.mark.parametrize("case", ["missing", "unreachable", "untrusted"])
def test_tag_listing_failure_names_the_repo(case: str, registry: Registry, registry_factory, skopeo: Runner,
                                           reference_skopeo: Runner, tmp_path: Path) -> None:
    if case == "missing":
        repo, flags, detail = f"{registry.host}/nope/nope", NOTLS, \
            "fetching tags list: repository name not known to registry"
    elif case == "unreachable":
        repo, flags, detail = "127.0.0.1:1/repo/img", NOTLS, \
            'pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: ' \
            "connect: connection refused"
    else:
        tls = registry_factory(tls=True)
        repo, flags, detail = f"{tls.host}/repo/img", (), \
            f'pinging container registry {tls.host}: Get "https://{tls.host}/v2/": ' \
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    proc = skopeo("sync", *flags, "--src", "docker", "--dest", "dir", repo, str(tmp_path / "ours"))
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f"Error determining repository tags for repo {repo}: {detail}"
    # 1.9.3 says "for image"; newer upstream says "for repo", which we follow.
    ref = reference_skopeo("sync", *flags, "--src", "docker", "--dest", "dir", repo, str(tmp_path / "ref"))
    assert ref.returncode == 1
    assert fatal_message(ref.stderr).startswith(f"Error determining repository tags for image {repo}: ")
    for p in (proc, ref):
        assert "Copying image ref" not in p.stderr


def test_tag_list_refused_without_credentials(registry_factory, skopeo: Runner, oci_image: str,
                                              tmp_path: Path) -> None:
    """A registry that wants credentials for the tag list: an error naming the
    repository, as newer upstream (1.9.3 warned "Registry disallows tag list
    retrieval" and then found no images)."""
    reg = registry_factory(auth="htpasswd")
    push(oci_image, f"docker://{reg.host}/repo/img:v1", ctx(username="testuser", password="testpassword"))
    proc = skopeo("sync", *NOTLS, "--src", "docker", "--dest", "dir", f"{reg.host}/repo/img", str(tmp_path / "none"))
    assert proc.returncode == 1, proc.stderr
    assert fatal_message(proc.stderr) == (
        f"Error determining repository tags for repo {reg.host}/repo/img: fetching tags list: authentication required"
    )
    # With credentials the same sync works.
    proc = skopeo("sync", *NOTLS, "--src-creds", "testuser:testpassword", "--src", "docker", "--dest", "dir",
                  f"{reg.host}/repo/img", str(tmp_path / "creds"))
    assert proc.returncode == 0, proc.stderr
    assert dir_outputs(tmp_path / "creds") == ["img:v1"]


@pytest.mark.oracle
def test_invalid_destination_name_fails_before_copying(registry: Registry, oci_image: str, skopeo: Runner,
                                                       reference_skopeo: Runner) -> None:
    push(oci_image, f"docker://{registry.host}/repo/img:v1")
    args = ("sync", "--scoped", *NOTLS, "--src", "docker", "--dest", "docker", f"{registry.host}/repo/img:v1",
            f"{registry.host}/out/s")
    ours, ref = skopeo(*args), reference_skopeo(*args)
    assert ours.returncode == ref.returncode == 1
    expected = (f'Cannot obtain a valid image reference for transport "docker" and reference '
                f'"//{registry.host}/out/s/{registry.host}/repo/img:v1": invalid reference format')
    assert fatal_message(ours.stderr) == fatal_message(ref.stderr) == expected
    assert "Copying image ref" not in ours.stderr
    # Checked in --dry-run too (upstream builds every destination reference there as well).
    dry = skopeo(*args[:1], "--dry-run", *args[1:])
    assert dry.returncode == 1 and fatal_message(dry.stderr) == expected
