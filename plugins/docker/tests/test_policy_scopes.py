"""policy.json ``reject`` at every scope level of the docker transport, against
a real registry: the transport default, a registry, a namespace, a repository,
a tag and a digest.  Each level rejects what it covers, with upstream's
message, before anything is written, and leaves what it does not cover (the
nearest sibling) alone.  The levels are evaluated through the API (in-process:
fast); the CLI and the reference skopeo are checked on the same table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from skopeo import api, policy
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.errors import PolicyError
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_image
from skopeo.testing.registry import Registry
from skopeo.testing.require import reference_skopeo

from .conftest import Runner

NOTLS = CopyOptions(source_ctx=SystemContext(tls_verify=False), dest_ctx=SystemContext(tls_verify=False))


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


def rejected_message(ref: str) -> str:
    return f"Source image rejected: Running image docker://{ref} is rejected by policy."


def push_images(registry: Registry, tmp_path: Path) -> tuple[str, str]:
    """ns/app:v1 (= ns/apple:v1, other/app:v1) and another image as ns/app:v2; their digests."""
    accept = policy.PolicyContext(policy.Policy.accept_anything())
    digests = []
    for seed, tags in ((31, ("ns/app:v1", "ns/apple:v1", "other/app:v1")), (32, ("ns/app:v2",))):
        digests.append(make_image(str(tmp_path / f"src{seed}"), "t", seed=seed, layers=1).digest)
        for tag in tags:
            api.copy(f"oci:{tmp_path / f'src{seed}'}:t", f"docker://{registry.host}/{tag}", NOTLS, accept)
    return digests[0], digests[1]


def write_policy(path: Path, scope: str) -> Path:
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                "transports": {"docker": {scope: [{"type": "reject"}]}}}))
    return path


def test_reject_at_every_docker_scope(registry: Registry, run_skopeo: Runner, tmp_path: Path) -> None:
    digest, other = push_images(registry, tmp_path)
    n = 0
    for level, scope, rejected, covered_not in levels(registry.host, digest, other):
        pc = policy.PolicyContext(policy.load(str(write_policy(tmp_path / f"policy-{n}.json", scope))))
        for ref in rejected:
            n += 1
            out = tmp_path / f"out-{n}"
            with pytest.raises(PolicyError) as info:
                api.copy(f"docker://{ref}", f"dir:{out}", NOTLS, pc)
            assert info.value.message == rejected_message(ref), level
            # As upstream, the dir: destination exists (with its version file) but holds nothing else.
            assert {p.name for p in out.iterdir()} == {"version"}, (level, ref)
        for ref in covered_not:
            n += 1
            api.copy(f"docker://{ref}", f"dir:{tmp_path / f'out-{n}'}", NOTLS, pc)
    # The docker transport default covers docker only.
    pc = policy.PolicyContext(policy.load(str(write_policy(tmp_path / "policy-default.json", ""))))
    api.copy(f"oci:{tmp_path / 'src31'}:t", f"dir:{tmp_path / 'local'}", None, pc)
    # The command line says the same, once per level.
    for level, scope, rejected, _ in levels(registry.host, digest, other):
        pol = write_policy(tmp_path / "policy-cli.json", scope)
        proc = run_skopeo("--policy", str(pol), "copy", "-q", "--src-tls-verify=false", f"docker://{rejected[-1]}",
                          f"dir:{tmp_path / 'cli'}", policy=False)
        assert proc.returncode == 1, (level, proc.stderr)
        assert fatal_message(proc.stderr) == rejected_message(rejected[-1]), level


@pytest.mark.oracle
def test_reject_scopes_agree_with_reference(registry: Registry, tmp_path: Path) -> None:
    """The reference skopeo reads the same policy the same way at every level."""
    exe = reference_skopeo()
    digest, other = push_images(registry, tmp_path)
    n = 0
    for level, scope, rejected, covered_not in levels(registry.host, digest, other):
        pol = write_policy(tmp_path / f"policy-{n}.json", scope)
        for ref in [*rejected, *covered_not]:
            n += 1
            proc = subprocess.run([exe, "--policy", str(pol), "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                                   f"dir:{tmp_path / f'ref-{n}'}"], capture_output=True, text=True, timeout=120)
            if ref in rejected:
                assert proc.returncode == 1, (level, ref, proc.stderr)
                assert fatal_message(proc.stderr) == rejected_message(ref), (level, ref)
            else:
                assert proc.returncode == 0, (level, ref, proc.stderr)
