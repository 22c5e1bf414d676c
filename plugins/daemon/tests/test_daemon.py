"""docker-daemon: against real podman and dockerd instances on private roots."""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from skopeo import api
from skopeo.errors import SkopeoError
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_image, validate

if TYPE_CHECKING:  # the fixtures' type (conftest: imported by name, it could be another suite's)
    from conftest import Daemon


def api_images(d: Daemon) -> list[dict[str, object]]:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(d.socket))) as c:
        return c.get("http://d/v1.41/images/json").json()  # type: ignore[no-any-return]


def image_id(d: Daemon, tag: str) -> str:
    for img in api_images(d):
        if any(t.endswith(tag) for t in img.get("RepoTags") or []):  # type: ignore[attr-defined, union-attr]
            return str(img["Id"])
    raise AssertionError(f"{tag} not in {d.kind}")


def same_dirs(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files


def test_round_trip(daemon: Daemon, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image("src", "s", seed=41, layers=3)
    tag = f"example.com/rt-{daemon.kind}:v1"
    run_skopeo("copy", "-q", "--dest-daemon-host", daemon.host, "oci:src:s", f"docker-daemon:{tag}", check=True)
    image_id(daemon, tag)
    run_skopeo("copy", "-q", "--src-daemon-host", daemon.host, f"docker-daemon:{tag}", "oci:back:b", check=True)
    assert len(validate("oci:back:b")) == 3
    src_cfg = run_skopeo("inspect", "--config", "--raw", "oci:src:s", check=True).stdout
    back = json.loads(run_skopeo("inspect", "--config", "--raw", "oci:back:b", check=True).stdout)
    assert back["rootfs"] == json.loads(src_cfg)["rootfs"]
    assert not list(Path(".").glob("docker-daemon-tar-*")), "spooled save not removed"


@pytest.mark.oracle
def test_agrees_with_reference(daemon: Daemon, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    make_image("src", "s", seed=42, layers=2)
    ours_tag, ref_tag = f"example.com/ours-{daemon.kind}:1", f"example.com/ref-{daemon.kind}:1"
    run_skopeo("copy", "-q", "--dest-daemon-host", daemon.host, "oci:src:s", f"docker-daemon:{ours_tag}", check=True)
    oracle("copy", "-q", "--dest-daemon-host", daemon.host, "oci:src:s", f"docker-daemon:{ref_tag}", check=True)
    for tag in (ours_tag, ref_tag):
        run_skopeo("copy", "-q", "--src-daemon-host", daemon.host, f"docker-daemon:{tag}", f"dir:we-{tag[12:]}", check=True)
        oracle("copy", "-q", "--src-daemon-host", daemon.host, f"docker-daemon:{tag}", f"dir:ref-{tag[12:]}", check=True)
        same_dirs(Path(f"we-{tag[12:]}"), Path(f"ref-{tag[12:]}"))
    assert image_id(daemon, ours_tag) == image_id(daemon, ref_tag)


def test_read_by_image_id_and_docker_host(daemon: Daemon, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image("src", "s", seed=43, layers=1)
    tag = f"example.com/id-{daemon.kind}:1"
    run_skopeo("copy", "-q", "--dest-daemon-host", daemon.host, "oci:src:s", f"docker-daemon:{tag}", check=True)
    iid = image_id(daemon, tag)
    # As upstream, DOCKER_HOST is not read: --daemon-host names the daemon.
    assert run_skopeo("inspect", "--raw", f"docker-daemon:{iid}", env={"DOCKER_HOST": daemon.host}).returncode != 0
    out = run_skopeo("inspect", "--raw", "--daemon-host", daemon.host, f"docker-daemon:{iid}", check=True).stdout
    assert json.loads(out)["config"]["digest"] == iid
    r = run_skopeo("copy", "-q", "--dest-daemon-host", daemon.host, "oci:src:s", f"docker-daemon:{iid}")
    assert r.returncode == 1 and "a destination must be a name:tag" in r.stderr


def test_cli_load_and_save_interoperate(daemon: Daemon, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    make_image("src", "s", seed=44, layers=2)
    run_skopeo("copy", "-q", "oci:src:s", f"docker-archive:ours.tar:example.com/cli-{daemon.kind}:1", check=True)
    subprocess.run([*daemon.cli, "load", "-i", "ours.tar"], check=True, capture_output=True)
    image_id(daemon, f"example.com/cli-{daemon.kind}:1")
    subprocess.run([*daemon.cli, "save", "-o", "theirs.tar", f"example.com/cli-{daemon.kind}:1"], check=True,
                   capture_output=True)
    run_skopeo("copy", "-q", "docker-archive:theirs.tar", "oci:back:b", check=True)
    assert len(validate("oci:back:b")) == 2


def test_errors(daemon: Daemon, run_skopeo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_skopeo("inspect", "--daemon-host", daemon.host, "docker-daemon:example.com/missing:nope")
    assert r.returncode != 0 and "Error response from daemon" in r.stderr
    r = run_skopeo("inspect", "--daemon-host", f"unix://{tmp_path}/nothing.sock", "docker-daemon:busybox:latest")
    assert r.returncode == 1 and fatal_message(r.stderr) == (
        'Error parsing image name "docker-daemon:busybox:latest": loading image from docker engine: failed to connect '
        f"to the docker API at unix://{tmp_path}/nothing.sock; check if the path is correct and if the daemon is running: "
        f"dial unix {tmp_path}/nothing.sock: connect: no such file or directory")


def test_tls_daemon(docker_daemon: Daemon, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    assert docker_daemon.tls_host and docker_daemon.client_certs
    make_image("src", "s", seed=45, layers=1)
    tls = ["--dest-daemon-host", docker_daemon.tls_host, "--dest-cert-dir", str(docker_daemon.client_certs)]
    run_skopeo("copy", "-q", *tls, "oci:src:s", "docker-daemon:example.com/tls:1", check=True)
    image_id(docker_daemon, "example.com/tls:1")
    no_certs = run_skopeo("copy", "-q", "--dest-daemon-host", docker_daemon.tls_host, "oci:src:s",
                          "docker-daemon:example.com/tls:2")
    assert no_certs.returncode == 1
    # Upstream speaks TLS with the system's CAs, fails to verify the daemon's certificate
    # and reports it mid-copy; we fail before writing anything, in the Docker client's words.
    assert fatal_message(no_certs.stderr).startswith(
        "initializing destination docker-daemon:example.com/tls:2: error during connect: "), no_certs.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in no_certs.stderr


def test_reference_grammar() -> None:
    assert api.parse("docker-daemon:busybox:1").string_within_transport() == "busybox:1"
    iid = "sha256:" + "a" * 64
    assert api.parse(f"docker-daemon:{iid}").string_within_transport() == iid
    assert api.parse(f"docker-daemon:{iid}").policy_configuration_identity() == ""
    with pytest.raises(SkopeoError, match="has neither a tag nor a digest"):
        api.parse("docker-daemon:busybox")
    with pytest.raises(SkopeoError, match="only digest algorithm sha256 accepted"):
        api.parse("docker-daemon:sha512:" + "a" * 128)
    with pytest.raises(SkopeoError, match="reserved"):
        api.parse("docker-daemon:sha256:abc")
    with pytest.raises(SkopeoError, match="can not use algo:digest"):
        api.parse("docker-daemon:a:b").transport.validate_policy_configuration_scope(iid)
