"""policy.json ``reject`` at every scope level of the docker transport, against
a real registry: the transport default, a registry, a namespace, a repository,
a tag and a digest.  Each level rejects what it covers, with upstream's
message, before anything is written, and leaves what it does not cover (the
nearest sibling) alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from skopeo.testing.fixtures import fatal_message
from skopeo.testing.registry import Registry
from skopeo.testing.require import reference_skopeo

from .conftest import Runner


def levels(host: str, digest: str, other_digest: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(level, scope, references it rejects, references it does not cover)."""
    return [
        ("transport default", "", [f"{host}/ns/app:v1"], []),
        ("registry", host, [f"{host}/ns/app:v1", f"{host}/other/app:v1"], []),
        ("namespace", f"{host}/ns", [f"{host}/ns/app:v1", f"{host}/ns/apple:v1"], [f"{host}/other/app:v1"]),
        ("repository", f"{host}/ns/app", [f"{host}/ns/app:v1", f"{host}/ns/app@{digest}"],
         [f"{host}/ns/apple:v1", f"{host}/other/app:v1"]),
        ("tag", f"{host}/ns/app:v1", [f"{host}/ns/app:v1"], [f"{host}/ns/app:v2", f"{host}/ns/app@{digest}"]),
        ("digest", f"{host}/ns/app@{digest}", [f"{host}/ns/app@{digest}"],
         [f"{host}/ns/app:v1", f"{host}/ns/app@{other_digest}"]),
    ]


def push_images(skopeo: Runner, registry: Registry, tmp_path: Path) -> tuple[str, str]:
    """ns/app:v1 (= ns/apple:v1, other/app:v1) and another image as ns/app:v2; their digests."""
    from skopeo.testing.images import make_image

    digests = []
    for seed, tags in ((31, ("ns/app:v1", "ns/apple:v1", "other/app:v1")), (32, ("ns/app:v2",))):
        written = make_image(str(tmp_path / f"src{seed}"), "t", seed=seed, layers=1)
        digests.append(written.digest)
        for tag in tags:
            skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{tmp_path / f'src{seed}'}:t", f"docker://{registry.host}/{tag}",
                   check=True)
    return digests[0], digests[1]


def write_policy(path: Path, scope: str) -> Path:
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                "transports": {"docker": {scope: [{"type": "reject"}]}}}))
    return path


def test_reject_at_every_docker_scope(registry: Registry, skopeo: Runner, run_skopeo: Runner, tmp_path: Path) -> None:
    digest, other = push_images(skopeo, registry, tmp_path)
    n = 0
    for level, scope, rejected, covered_not in levels(registry.host, digest, other):
        policy = write_policy(tmp_path / f"policy-{n}.json", scope)
        for ref in rejected:
            n += 1
            out = tmp_path / f"out-{n}"
            proc = run_skopeo("--policy", str(policy), "copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}",
                              policy=False)
            assert proc.returncode == 1, (level, ref, proc.stderr)
            assert fatal_message(proc.stderr) == f"Source image rejected: Running image docker://{ref} is rejected by policy.", level
            # As upstream, the dir: destination exists (with its version file) but holds nothing else.
            assert {p.name for p in out.iterdir()} == {"version"}, (level, ref)
        for ref in covered_not:
            n += 1
            proc = run_skopeo("--policy", str(policy), "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                              f"dir:{tmp_path / f'out-{n}'}", policy=False)
            assert proc.returncode == 0, (level, ref, proc.stderr)
    # The docker transport default covers docker only.
    policy = write_policy(tmp_path / "policy-default.json", "")
    proc = run_skopeo("--policy", str(policy), "copy", "-q", f"oci:{tmp_path / 'src31'}:t", f"dir:{tmp_path / 'local'}",
                      policy=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.oracle
def test_reject_scopes_agree_with_reference(registry: Registry, skopeo: Runner, run_skopeo: Runner, tmp_path: Path) -> None:
    """The reference skopeo reads the same policy the same way at every level."""
    exe = reference_skopeo()
    digest, other = push_images(skopeo, registry, tmp_path)
    n = 0
    for level, scope, rejected, covered_not in levels(registry.host, digest, other):
        policy = write_policy(tmp_path / f"policy-{n}.json", scope)
        for ref in [*rejected, *covered_not]:
            n += 1
            args = ["--policy", str(policy), "copy", "-q", "--src-tls-verify=false", f"docker://{ref}"]
            ours = run_skopeo(*args, f"dir:{tmp_path / f'ours-{n}'}", policy=False)
            theirs = subprocess.run([exe, *args, f"dir:{tmp_path / f'theirs-{n}'}"], capture_output=True, text=True,
                                    timeout=120)
            assert ours.returncode == theirs.returncode, (level, ref, ours.stderr, theirs.stderr)
            if ours.returncode:
                assert fatal_message(ours.stderr) == fatal_message(theirs.stderr), (level, ref)
