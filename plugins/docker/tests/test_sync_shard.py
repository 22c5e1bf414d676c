"""``skopeo sync --shard``: N shard processes run at once against real
registries (and into shared dir:/oci: destinations) copy exactly what one full
sync copies, no image twice; one shard rerun alone completes the mirror."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.policy import Policy, PolicyContext
from skopeo.shard import Shard, shard_of
from skopeo.sync import SyncOptions
from skopeo.testing.fixtures import skopeo_command
from skopeo.testing.images import make_image
from skopeo.testing.registry import Registry

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())
TAGS = [f"t{i:02d}" for i in range(12)]
NOTLS = ("--src-tls-verify=false", "--dest-tls-verify=false")


def ctx() -> SystemContext:
    return SystemContext(tls_verify=False)


@pytest.fixture
def fleet(registry_factory, tmp_path: Path) -> tuple[Registry, dict[str, str]]:  # type: ignore[no-untyped-def]
    """``fleet/app`` with 12 distinct images (one layer each) and ``fleet/db:v1``;
    returns the registry and {"repo:tag": digest}."""
    reg = registry_factory()
    layout = tmp_path / "images"
    digests = {}
    opts = CopyOptions(source_ctx=ctx(), dest_ctx=ctx())
    for i, tag in enumerate([*TAGS, "db"]):
        make_image(str(layout), tag, seed=300 + i, layers=1)
        repo_tag = "fleet/db:v1" if tag == "db" else f"fleet/app:{tag}"
        digests[repo_tag] = api.copy(f"oci:{layout}:{tag}", f"docker://{reg.host}/{repo_tag}", options=opts,
                                     policy=ACCEPT).digest
    return reg, digests


def start_shards(count: int, args: list[str], env: dict[str, str] | None = None,
                 flag: bool = True) -> list[subprocess.Popen[str]]:
    procs = []
    for index in range(count):
        shard_args = ["--shard", f"{index}/{count}"] if flag else []
        full_env = {**os.environ, **(env or {})}
        if not flag:
            full_env["JOB_COMPLETION_INDEX"] = str(index)
        procs.append(subprocess.Popen([*skopeo_command(), "--insecure-policy", "sync", *shard_args, *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env))
    return procs


def finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    stderrs = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        stderrs.append(err)
    return stderrs


def digest_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def shard_files(base: Path, count: int) -> list[Path]:
    return [Path(f"{base}{Shard(i, count).suffix()}") for i in range(count)]


@pytest.mark.parametrize("count", [1, 3, 7])
def test_concurrent_shards_equal_one_full_sync(fleet, registry_factory, skopeo: Runner, tmp_path: Path,
                                               count: int) -> None:
    src, digests = fleet
    dst = registry_factory()
    full = tmp_path / "full-digests"
    proc = skopeo("sync", "--src", "docker", "--dest", "docker", *NOTLS, "--digestfile", str(full),
                  f"{src.host}/fleet/app", f"{dst.host}/full")
    assert proc.returncode == 0, proc.stderr
    expected = sorted(line.replace(f"{dst.host}/full/", "") for line in digest_lines(full))
    assert len(expected) == len(TAGS)

    base = tmp_path / "digests"
    stderrs = finish(start_shards(count, ["--src", "docker", "--dest", "docker", *NOTLS, "--digestfile", str(base),
                                          f"{src.host}/fleet/app", f"{dst.host}/sharded"]))
    per_shard = [digest_lines(f) for f in shard_files(base, count)]
    assert not base.exists()  # each shard writes its own file, never the shared name
    union = [line.replace(f"{dst.host}/sharded/", "") for lines in per_shard for line in lines]
    assert sorted(union) == expected  # everything, and no image copied by two shards
    for index, (lines, err) in enumerate(zip(per_shard, stderrs, strict=True)):
        owned = [t for t in TAGS if shard_of(f"fleet/app:{t}", count) == index]
        assert sorted(line.rsplit(":", 1)[1] for line in lines) == owned
        assert f"Shard {index}/{count}: {len(owned)} of {len(TAGS)} images" in err
        assert f"Summary: {len(owned)} copied, 0 skipped, 0 failed" in err
        assert f'shard={index}/{count}' in err.splitlines()[-1]
    tags = api.list_tags(f"docker://{dst.host}/sharded/app", ctx())["Tags"]
    assert sorted(tags) == TAGS
    for tag in TAGS:
        got = api.inspect(f"docker://{dst.host}/sharded/app:{tag}", ctx(), no_tags=True)["Digest"]
        assert got == digests[f"fleet/app:{tag}"]


def test_one_failed_shard_rerun_alone_completes(fleet, registry_factory, skopeo: Runner, tmp_path: Path) -> None:
    src, _ = fleet
    dst = registry_factory()
    args = ["--src", "docker", "--dest", "docker", *NOTLS, f"{src.host}/fleet/app", f"{dst.host}/m"]
    # Shard 1 of 3 never ran (its pod was lost): the others leave a gap.
    for index in (0, 2):
        assert skopeo("sync", "--shard", f"{index}/3", *args).returncode == 0
    missing = sorted(t for t in TAGS if shard_of(f"fleet/app:{t}", 3) == 1)
    assert missing
    present = api.list_tags(f"docker://{dst.host}/m/app", ctx())["Tags"]
    assert sorted(present) == sorted(set(TAGS) - set(missing))
    rerun = skopeo("sync", "--shard", "1/3", *args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Summary: {len(missing)} copied, 0 skipped, 0 failed" in rerun.stderr
    assert sorted(api.list_tags(f"docker://{dst.host}/m/app", ctx())["Tags"]) == TAGS
    # Rerunning a complete shard copies nothing.
    again = skopeo("sync", "--shard", "1/3", *args)
    assert f"Summary: 0 copied, {len(missing)} skipped, 0 failed" in again.stderr


def test_index_from_an_indexed_job(fleet, registry_factory, tmp_path: Path) -> None:
    """$JOB_COMPLETION_INDEX with $SKOPEO_SYNC_SHARD_COUNT, as a Kubernetes Indexed Job runs it."""
    src, _ = fleet
    dst = registry_factory()
    base = tmp_path / "d"
    stderrs = finish(start_shards(3, ["--src", "docker", "--dest", "docker", *NOTLS, "--digestfile", str(base),
                                      f"{src.host}/fleet/app", f"{dst.host}/job"],
                                  env={"SKOPEO_SYNC_SHARD_COUNT": "3"}, flag=False))
    for index, err in enumerate(stderrs):
        assert f"Shard {index}/3:" in err
    assert sum(len(digest_lines(f)) for f in shard_files(base, 3)) == len(TAGS)
    assert sorted(api.list_tags(f"docker://{dst.host}/job/app", ctx())["Tags"]) == TAGS


def test_yaml_source_into_one_shared_oci_layout(fleet, skopeo: Runner, tmp_path: Path) -> None:
    src, digests = fleet
    config = tmp_path / "sync.yaml"
    config.write_text(f"{src.host}:\n  tls-verify: false\n  images:\n    fleet/app: []\n    fleet/db: [v1]\n")
    full = tmp_path / "full"
    assert skopeo("sync", "--src", "yaml", "--dest", "oci", "--scoped", str(config), str(full)).returncode == 0
    shared = tmp_path / "sharded"
    finish(start_shards(3, ["--src", "yaml", "--dest", "oci", "--scoped", str(config), str(shared)]))

    def refs(layout: Path) -> dict[str, str]:
        index = json.loads((layout / "index.json").read_text())
        return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}

    assert refs(shared) == refs(full)
    assert len(refs(shared)) == len(digests)
    for name, digest in refs(shared).items():
        assert api.inspect(f"oci:{shared}:{name}")["Digest"] == digest


def test_docker_to_dir_and_dir_to_docker(fleet, registry_factory, skopeo: Runner, tmp_path: Path) -> None:
    src, digests = fleet
    tree = tmp_path / "tree"
    finish(start_shards(3, ["--src", "docker", "--dest", "dir", "--src-tls-verify=false",
                            f"{src.host}/fleet/app", str(tree)]))
    assert sorted(os.listdir(tree)) == sorted(f"app:{t}" for t in TAGS)
    # dir: sources shard by the image's path below the source directory.
    dst = registry_factory()
    finish(start_shards(3, ["--src", "dir", "--dest", "docker", "--dest-tls-verify=false", str(tree),
                            f"{dst.host}/back"]))
    for tag in TAGS:
        got = api.inspect(f"docker://{dst.host}/back/app:{tag}", ctx(), no_tags=True)["Digest"]
        assert got == digests[f"fleet/app:{tag}"]


def test_python_api_takes_the_shard(fleet, registry_factory) -> None:
    src, _ = fleet
    dst = registry_factory()
    results = []
    for index in range(3):
        options = SyncOptions("docker", "docker", copy=CopyOptions(source_ctx=ctx(), dest_ctx=ctx()),
                              shard=Shard(index, 3))
        results.append(api.sync(f"{src.host}/fleet/app", f"{dst.host}/api", options, policy=ACCEPT))
    assert [r.images for r in results] == [len(TAGS)] * 3
    assert sum(r.shard_images for r in results) == sum(r.copied for r in results) == len(TAGS)
    assert sorted(api.list_tags(f"docker://{dst.host}/api/app", ctx())["Tags"]) == TAGS


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--shard", "3/3"], {}, 'invalid argument "3/3" for "--shard" flag: the index must be from 0 to 2'),
    (["--shard", "x"], {}, 'invalid argument "x" for "--shard" flag: expected INDEX/COUNT, e.g. 0/3'),
    (["--shard-count", "2"], {}, "--shard-count needs --shard or $JOB_COMPLETION_INDEX"),
    ([], {"JOB_COMPLETION_INDEX": "5", "SKOPEO_SYNC_SHARD_COUNT": "5"},
     "$JOB_COMPLETION_INDEX=5 is out of range for 5 shards"),
])
def test_bad_shard_settings(args: list[str], env: dict[str, str], message: str, skopeo: Runner) -> None:
    proc = skopeo("sync", "--src", "docker", "--dest", "docker", *args, "127.0.0.1:1/a", "127.0.0.1:1/b", env=env)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == message  # before any network access
