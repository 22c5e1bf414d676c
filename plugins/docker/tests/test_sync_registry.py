"""``skopeo sync`` against two real docker-registry instances: docker→docker
(scoped and not), docker→dir, dir→docker, docker→oci, YAML sources with tag
lists, regex and semver filters and per-registry credentials / tls-verify;
reruns copy nothing, interrupted syncs resume, --keep-going, --digestfile,
--dry-run, and 429 slow-downs shared by the whole pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.policy import Policy, PolicyContext
from skopeo.testing.fixtures import skopeo_command
from skopeo.testing.images import make_image, validate
from skopeo.testing.registry import Fault, Registry

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())
TAGS = ("v1", "v2", "1.2.0", "1.3.0")
NOTLS = ("--src-tls-verify=false", "--dest-tls-verify=false")


def ctx() -> SystemContext:
    return SystemContext(tls_verify=False)


def push(src: str, dest: str) -> str:
    return api.copy(src, dest, options=CopyOptions(source_ctx=ctx(), dest_ctx=ctx()), policy=ACCEPT).digest


def digest_of(name: str) -> str:
    return str(api.inspect(name, ctx(), no_tags=True)["Digest"])


@pytest.fixture
def source(registry_factory, tmp_path: Path) -> tuple[Registry, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A registry holding ``team/app`` with TAGS (distinct images) and ``base:latest``;
    returns it and {"repo:tag": digest}."""
    reg = registry_factory()
    layout = tmp_path / "images"
    digests = {}
    for i, tag in enumerate(TAGS):
        make_image(str(layout), tag, seed=40 + i, layers=1)
        digests[f"team/app:{tag}"] = push(f"oci:{layout}:{tag}", f"docker://{reg.host}/team/app:{tag}")
    make_image(str(layout), "base", seed=60, layers=2)
    digests["base:latest"] = push(f"oci:{layout}:base", f"docker://{reg.host}/base:latest")
    return reg, digests


def copied(proc: subprocess.CompletedProcess[str]) -> tuple[int, int, int]:
    """(copied, skipped, failed) from the summary line."""
    line = next(x for x in proc.stderr.splitlines() if "Summary:" in x)
    words = line.split("Summary: ", 1)[1].split()
    return int(words[0]), int(words[2]), int(words[4])


def test_docker_to_docker_rerun_skips(source, registry_factory, skopeo: Runner, reference_skopeo: Runner,
                                      tmp_path: Path) -> None:
    src, digests = source
    dst = registry_factory()
    digestfile = tmp_path / "digests"
    proc = skopeo("sync", "--src", "docker", "--dest", "docker", *NOTLS, "--digestfile", str(digestfile),
                  f"{src.host}/team/app", f"{dst.host}/mirror")
    assert proc.returncode == 0, proc.stderr
    assert "Synced 4 images from 1 sources" in proc.stderr
    assert copied(proc) == (4, 0, 0)
    for tag in TAGS:
        name = f"docker://{dst.host}/mirror/app:{tag}"
        assert digest_of(name) == digests[f"team/app:{tag}"]
        reference_skopeo("inspect", "--tls-verify=false", name, check=True)
    lines = sorted(digestfile.read_text().splitlines())
    assert lines == sorted(f"{digests[f'team/app:{t}']} docker://{dst.host}/mirror/app:{t}" for t in TAGS)
    # A rerun: one HEAD per image, nothing copied.
    again = skopeo("sync", "--src", "docker", "--dest", "docker", *NOTLS, f"{src.host}/team/app", f"{dst.host}/mirror")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("Skipping: image already present at destination") == 4
    assert copied(again) == (0, 4, 0)
    assert "Copying blob" not in again.stdout


def test_docker_to_docker_scoped(source, registry_factory, skopeo: Runner, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src, digests = source
    dst = registry_factory()
    # Scoped names keep the source registry in the path, which cannot hold a
    # port: reach the source through a port-less alias (registries.conf).
    conf = tmp_path / "alias.conf"
    conf.write_text(f'[[registry]]\nprefix = "source.test"\nlocation = "{src.host}"\ninsecure = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    proc = skopeo("sync", "--src", "docker", "--dest", "docker", "--scoped", "--dest-tls-verify=false",
                  "source.test/team/app:v2", f"{dst.host}/mirror")
    assert proc.returncode == 0, proc.stderr
    assert digest_of(f"docker://{dst.host}/mirror/source.test/team/app:v2") == digests["team/app:v2"]
    # --append-suffix goes at the end of the tag.
    proc = skopeo("sync", "--src", "docker", "--dest", "docker", "--scoped", "--append-suffix", "-m",
                  "--dest-tls-verify=false", "source.test/base:latest", f"{dst.host}/mirror")
    assert proc.returncode == 0, proc.stderr
    assert digest_of(f"docker://{dst.host}/mirror/source.test/base:latest-m") == digests["base:latest"]


def test_docker_to_dir_and_back(source, registry_factory, skopeo: Runner, reference_skopeo: Runner,
                                tmp_path: Path) -> None:
    src, digests = source
    out = tmp_path / "dirs"
    proc = skopeo("sync", "--src", "docker", "--dest", "dir", "--scoped", "--src-tls-verify=false",
                  f"{src.host}/team/app", str(out))
    assert proc.returncode == 0, proc.stderr
    for tag in TAGS:
        path = out / src.host / "team" / f"app:{tag}"
        validate(f"dir:{path}")
        reference_skopeo("inspect", f"dir:{path}", check=True)
        assert api.inspect(f"dir:{path}")["Digest"] == digests[f"team/app:{tag}"]
    # An existing destination directory is refused, as upstream does.
    again = skopeo("sync", "--src", "docker", "--dest", "dir", "--scoped", "--src-tls-verify=false",
                   f"{src.host}/team/app:v1", str(out))
    assert again.returncode == 1
    assert "Refusing to overwrite destination directory" in fatal_message(again.stderr)
    # dir → docker: tags come from the directory names.
    dst = registry_factory()
    proc = skopeo("sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false",
                  str(out / src.host / "team"), f"{dst.host}/back")
    assert proc.returncode == 0, proc.stderr
    for tag in TAGS:
        assert digest_of(f"docker://{dst.host}/back/app:{tag}") == digests[f"team/app:{tag}"]
    rerun = skopeo("sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false",
                   str(out / src.host / "team"), f"{dst.host}/back")
    assert copied(rerun) == (0, 4, 0)


def test_docker_to_oci(source, skopeo: Runner, reference_skopeo: Runner, tmp_path: Path) -> None:
    src, digests = source
    layout = tmp_path / "mirror"
    proc = skopeo("sync", "--src", "docker", "--dest", "oci", "--scoped", "--src-tls-verify=false",
                  f"{src.host}/team/app", str(layout))
    assert proc.returncode == 0, proc.stderr
    index = json.loads((layout / "index.json").read_text())
    names = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert names == sorted(f"{src.host}/team/app:{t}" for t in TAGS)
    for tag in TAGS:
        name = f"oci:{layout}:{src.host}/team/app:{tag}"
        validate(name)
        assert api.inspect(name)["Digest"] == digests[f"team/app:{tag}"]
    reference_skopeo("inspect", f"oci:{layout}:{src.host}/team/app:v1", check=True)
    again = skopeo("sync", "--src", "docker", "--dest", "oci", "--scoped", "--src-tls-verify=false",
                   f"{src.host}/team/app", str(layout))
    assert copied(again) == (0, 4, 0)


def test_yaml_filters_credentials_and_tls(source, registry_factory, skopeo: Runner, tmp_path: Path) -> None:
    src, digests = source
    # A second source: HTTPS with a certificate nobody trusts, and Basic auth.
    private = registry_factory(tls=True, auth="htpasswd")
    layout = tmp_path / "priv"
    make_image(str(layout), "p1", seed=77, layers=1)
    private_ctx = SystemContext(tls_verify=False, username="testuser", password="testpassword")
    private_digest = api.copy(f"oci:{layout}:p1", f"docker://{private.host}/secret/img:p1",
                              options=CopyOptions(dest_ctx=private_ctx), policy=ACCEPT).digest
    dst = registry_factory()
    config = tmp_path / "sync.yaml"
    config.write_text(f"""
{src.host}:
  tls-verify: false
  images:
    team/app:
      - v1
      - "{digests['team/app:v2']}"
  images-by-tag-regex:
    team/app: ^v[0-9]$
  images-by-semver:
    team/app: ">= 1.2.5"
{private.host}:
  tls-verify: false
  credentials:
    username: testuser
    password: testpassword
  images:
    secret/img: []
""")
    proc = skopeo("sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", str(config),
                  f"{dst.host}/y")
    assert proc.returncode == 0, proc.stderr
    assert digest_of(f"docker://{dst.host}/y/app:v1") == digests["team/app:v1"]
    assert digest_of(f"docker://{dst.host}/y/app:v2") == digests["team/app:v2"]
    assert digest_of(f"docker://{dst.host}/y/app:1.3.0") == digests["team/app:1.3.0"]
    assert digest_of(f"docker://{dst.host}/y/img:p1") == private_digest
    # 1.2.0 matched no filter.
    assert "1.2.0" not in api.list_tags(f"docker://{dst.host}/y/app", ctx())["Tags"]
    # Without the YAML's tls-verify the private registry's certificate is refused:
    # as upstream, that repository is skipped with an error and the rest is synced.
    config.write_text(config.read_text().replace("  tls-verify: false\n  credentials", "  credentials"))
    bad = skopeo("sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", str(config), f"{dst.host}/y")
    assert bad.returncode == 0, bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "level=error" in line]
    assert 'msg="Error processing repo, skipping"' in errors[0] and "repo=secret/img" in errors[0]
    assert "certificate signed by unknown authority" in errors[1]


def test_dry_run_copies_nothing(source, registry_factory, skopeo: Runner, tmp_path: Path) -> None:
    src, _ = source
    dst = registry_factory()
    proc = skopeo("sync", "--dry-run", "--src", "docker", "--dest", "docker", *NOTLS, "--digestfile",
                  str(tmp_path / "d"), f"{src.host}/team/app", f"{dst.host}/m")
    assert proc.returncode == 0, proc.stderr
    assert "Running in dry-run mode" in proc.stderr
    assert proc.stderr.count("Would have copied image ref") == 4
    assert "Would have synced 4 images from 1 sources" in proc.stderr
    assert not (tmp_path / "d").exists()
    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{dst.host}/m/app")
    assert listed.returncode == 1
    # Upstream main's words (1.9.3: "invalid status code from registry 404 (Not Found)").
    assert fatal_message(listed.stderr) == "Error listing repository tags: fetching tags list: repository name not known to registry"


def test_keep_going_reports_failures(source, registry_factory, faulty_proxy, skopeo: Runner) -> None:
    src, digests = source
    dst = registry_factory()
    # One image's manifest is persistently unavailable.
    proxy = faulty_proxy(src.port, "none", [Fault(r"^GET .*/team/app/manifests/v2", status=404, times=None)])
    args = ["sync", "--src", "docker", "--dest", "docker", *NOTLS, f"{proxy.host}/team/app", f"{dst.host}/k"]
    stop = skopeo(*args)
    assert stop.returncode == 1
    assert f'Error copying ref "docker://{proxy.host}/team/app:v2"' in fatal_message(stop.stderr)
    proc = skopeo("--debug", *args[:1], "--keep-going", *args[1:])
    assert proc.returncode == 1
    assert "Sync failed due to previous reported error(s) for one or more images" in fatal_message(proc.stderr)
    assert f'level=error msg="Error copying ref \\"docker://{proxy.host}/team/app:v2\\"' in proc.stderr
    # As upstream, the failed image is not counted; our summary is not printed after a failure
    # (it would come before upstream's last line, the fatal one).
    assert 'msg="Synced 3 images from 1 sources"' in proc.stderr and "Summary:" not in proc.stderr
    for tag in ("v1", "1.2.0", "1.3.0"):
        assert digest_of(f"docker://{dst.host}/k/app:{tag}") == digests[f"team/app:{tag}"]
    # Nothing presented as complete for the failed one.
    assert "v2" not in api.list_tags(f"docker://{dst.host}/k/app", ctx())["Tags"]
    # One HEAD per already-present image on a rerun (through a recording proxy).
    dproxy = faulty_proxy(dst.port)
    rerun = skopeo("sync", "--keep-going", "--src", "docker", "--dest", "docker", *NOTLS, f"{proxy.host}/team/app",
                   f"{dproxy.host}/k")
    assert rerun.returncode == 1 and 'msg="Synced 3 images from 1 sources"' in rerun.stderr
    manifest_requests = [(m, t) for m, t, _ in dproxy.requests if "/manifests/" in t]
    assert sorted(manifest_requests) == sorted(("HEAD", f"/v2/k/app/manifests/{t}") for t in ("v1", "1.2.0", "1.3.0"))


def test_interrupted_sync_resumes(source, registry_factory, faulty_proxy, tmp_path: Path, skopeo: Runner,
                                  reference_skopeo: Runner) -> None:
    src, digests = source
    dst = registry_factory()
    # Blob downloads are slow, so the sync is still running when it is killed.
    slow = faulty_proxy(src.port, "none", [Fault(r"^GET .*/blobs/", action="delay", delay=0.4, times=None)])
    argv = [*skopeo_command(), "--insecure-policy", "sync", "--parallel-images", "1", "--src", "docker",
            "--dest", "docker", *NOTLS, f"{slow.host}/team/app", f"{dst.host}/r"]
    with open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ))
        deadline = time.monotonic() + 60
        while "Copying image ref 2/4" not in (tmp_path / "err").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "err").read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # mid-way through the second image
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    present = [t for t in TAGS if t in (api.list_tags(f"docker://{dst.host}/r/app", ctx())["Tags"] or [])]
    assert 1 <= len(present) < 4
    # Whatever is tagged is complete.
    for tag in present:
        reference_skopeo("inspect", "--tls-verify=false", f"docker://{dst.host}/r/app:{tag}", check=True)
    again = skopeo("sync", "--src", "docker", "--dest", "docker", *NOTLS, f"{src.host}/team/app", f"{dst.host}/r")
    assert again.returncode == 0, again.stderr
    c, s, f = copied(again)
    assert (c + s, f) == (4, 0) and s >= len(present)
    for tag in TAGS:
        assert digest_of(f"docker://{dst.host}/r/app:{tag}") == digests[f"team/app:{tag}"]
        back = f"oci:{tmp_path / 'check'}:{tag}"
        push(f"docker://{dst.host}/r/app:{tag}", back)
        validate(back)


def test_429_slows_the_pool_down(source, registry_factory, faulty_proxy, skopeo: Runner) -> None:
    src, digests = source
    dst = registry_factory()
    # The destination rate-limits: many 429s with Retry-After, more than one
    # request could absorb alone; the shared cool-down keeps the sync alive.
    limited = faulty_proxy(dst.port, "none", [
        Fault(r"^(HEAD|PUT|POST|PATCH) ", status=429, retry_after="1", times=3),
        Fault(r"^PUT .*/manifests/", status=429, retry_after="0", times=2),
    ])
    started = time.monotonic()
    proc = skopeo("sync", "--parallel-images", "4", "--src", "docker", "--dest", "docker", *NOTLS,
                  f"{src.host}/team/app", f"{limited.host}/rl")
    assert proc.returncode == 0, proc.stderr
    assert copied(proc) == (4, 0, 0)
    assert time.monotonic() - started >= 1.0
    for tag in TAGS:
        assert digest_of(f"docker://{dst.host}/rl/app:{tag}") == digests[f"team/app:{tag}"]


def test_retry_times_covers_listing_and_copies(source, registry_factory, faulty_proxy, skopeo: Runner) -> None:
    from skopeo_docker.client import RETRY_ATTEMPTS

    src, digests = source
    dst = registry_factory()
    # More failures than per-request retries absorb, for the tag list and for one image.
    proxy = faulty_proxy(src.port, "none", [
        Fault(r"^GET .*/tags/list", status=503, retry_after="0", times=RETRY_ATTEMPTS + 1),
        Fault(r"^GET .*/manifests/1\.3\.0", status=502, retry_after="0", times=RETRY_ATTEMPTS + 1),
    ])
    proc = skopeo("sync", "--retry-times", "2", "--retry-delay", "0.1s", "--src", "docker", "--dest", "docker",
                  *NOTLS, f"{proxy.host}/team/app", f"{dst.host}/rt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("Failed, retrying in") == 2
    assert copied(proc) == (4, 0, 0)
    assert digest_of(f"docker://{dst.host}/rt/app:1.3.0") == digests["team/app:1.3.0"]


def test_destination_requests_are_minimal(source, registry_factory, faulty_proxy, skopeo: Runner) -> None:
    """One tag listing per destination repository replaces the per-image
    manifest check; in a repository that did not exist, blobs are not looked
    up one by one either.  A partly filled repository still gets both checks."""
    src, digests = source
    dst = registry_factory()
    proxy = faulty_proxy(dst.port)
    args = ["sync", "--src", "docker", "--dest", "docker", *NOTLS, f"{src.host}/team/app", f"{proxy.host}/fresh"]
    proc = skopeo(*args)
    assert proc.returncode == 0, proc.stderr
    assert copied(proc) == (4, 0, 0)
    methods = [(m, t.split("?")[0]) for m, t, _ in proxy.requests]
    assert ("GET", "/v2/fresh/app/tags/list") in methods
    assert not [r for r in methods if r[0] == "HEAD"], methods
    for tag in TAGS:
        assert digest_of(f"docker://{dst.host}/fresh/app:{tag}") == digests[f"team/app:{tag}"]
    # Drop one image: its tag is then known absent (no manifest HEAD for it), the
    # others are checked and skipped; blobs of the existing repository are looked up.
    skopeo("delete", "--tls-verify=false", f"docker://{dst.host}/fresh/app:v2", check=True)
    proxy.requests.clear()
    again = skopeo(*args)
    assert again.returncode == 0, again.stderr
    assert copied(again) == (1, 3, 0)
    heads = [t for m, t, _ in proxy.requests if m == "HEAD"]
    assert sorted(t for t in heads if "/manifests/" in t) == sorted(
        f"/v2/fresh/app/manifests/{t}" for t in TAGS if t != "v2")
    assert any("/blobs/" in t for t in heads)
    assert digest_of(f"docker://{dst.host}/fresh/app:v2") == digests["team/app:v2"]
