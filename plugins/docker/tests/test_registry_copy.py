"""Copy, inspect, list-tags and delete against a real docker-registry (plain HTTP),
through the Python API and the CLI, and interoperability with the reference
skopeo in both directions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skopeo import api
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.testing.images import make_multiarch, validate
from skopeo.testing.registry import Registry

from .conftest import Runner, fatal_message

ACCEPT = Policy.accept_anything()


def insecure() -> SystemContext:
    return SystemContext(tls_verify=False)


def copy(src: str, dest: str, **kwargs: object) -> str:
    opts = CopyOptions(source_ctx=insecure(), dest_ctx=insecure(), **kwargs)  # type: ignore[arg-type]
    return api.copy(src, dest, options=opts, policy=PolicyContext(ACCEPT)).digest


def test_push_inspect_pull_roundtrip(registry: Registry, oci_image: str, tmp_path: Path) -> None:
    dest = f"docker://{registry.host}/ns/demo:v1"
    digest = copy(oci_image, dest)
    info = api.inspect(dest, insecure())
    assert info["Name"] == f"{registry.host}/ns/demo"
    assert info["Digest"] == digest
    assert info["RepoTags"] == ["v1"]
    assert len(info["Layers"]) == 2
    raw = api.inspect_raw(dest, insecure())
    assert mf.manifest_digest(raw) == digest
    # Pull it back and check every blob end to end.
    pulled = f"oci:{tmp_path / 'pulled'}:v1"
    assert copy(dest, pulled) == digest
    assert len(validate(pulled)) == 2


def test_by_digest_reference_and_multiarch_all(registry: Registry, tmp_path: Path) -> None:
    make_multiarch(str(tmp_path / "multi"), "m")
    dest = f"docker://{registry.host}/ns/multi:m"
    list_digest = copy(f"oci:{tmp_path / 'multi'}:m", dest, multi_arch="all")
    raw = api.inspect_raw(f"docker://{registry.host}/ns/multi@{list_digest}", insecure())
    assert mf.manifest_digest(raw) == list_digest
    parsed = mf.parse(raw, mf.guess_mime(raw))
    assert isinstance(parsed, mf.ManifestList)
    assert len(parsed.instances) == 3
    # Every instance was pushed by digest before the list.
    for inst in parsed.instances:
        inst_raw = api.inspect_raw(f"docker://{registry.host}/ns/multi@{inst.digest}", insecure())
        assert mf.manifest_digest(inst_raw) == inst.digest
    back = f"oci:{tmp_path / 'back'}:m"
    assert copy(dest, back, multi_arch="all") == list_digest


def test_conversion_to_v2s2_and_repush_reuses_blobs(registry: Registry, oci_image: str, faulty_proxy) -> None:
    proxy = faulty_proxy(registry.port)
    dest = f"docker://{proxy.host}/ns/v2s2:x"
    copy(oci_image, dest, manifest_type=mf.DOCKER_V2S2)
    raw = api.inspect_raw(dest, insecure())
    assert json.loads(raw)["mediaType"] == mf.DOCKER_V2S2
    proxy.requests.clear()
    copy(oci_image, dest, manifest_type=mf.DOCKER_V2S2)
    methods = [(m, t) for m, t, _ in proxy.requests]
    # A re-push only checks existence and writes the manifest: no upload at all.
    assert not [t for m, t in methods if m in ("POST", "PATCH")]
    assert [t for m, t in methods if m == "PUT"] == ["/v2/ns/v2s2/manifests/x"]


def test_cross_repository_mount(registry: Registry, oci_image: str, faulty_proxy) -> None:
    proxy = faulty_proxy(registry.port)
    copy(oci_image, f"docker://{proxy.host}/ns/one:v1")
    proxy.requests.clear()
    copy(f"docker://{proxy.host}/ns/one:v1", f"docker://{proxy.host}/other/two:v1")
    posts = [t for m, t, _ in proxy.requests if m == "POST"]
    assert posts and all("mount=sha256" in t and "from=ns%2Fone" in t for t in posts), posts
    assert posts[0].index("from=") < posts[0].index("mount=")
    assert not [t for m, t, _ in proxy.requests if m == "PATCH"]
    assert api.inspect(f"docker://{registry.host}/other/two:v1", insecure())["RepoTags"] == ["v1"]


def test_request_headers(registry: Registry, oci_image: str, faulty_proxy) -> None:
    proxy = faulty_proxy(registry.port)
    copy(oci_image, f"docker://{proxy.host}/ns/h:v1")
    proxy.requests.clear()
    api.inspect_raw(f"docker://{proxy.host}/ns/h:v1", SystemContext(tls_verify=False, user_agent="test-agent/1"))
    gets = [h for m, t, h in proxy.requests if m == "GET" and "/manifests/" in t]
    assert gets
    accepts = [v for k, v in gets[0] if k.lower() == "accept"]
    # Six separate Accept lines, in upstream's order.
    assert accepts == list(mf.DEFAULT_REQUESTED_TYPES)
    agents = [v for k, v in gets[0] if k.lower() == "user-agent"]
    assert agents == ["test-agent/1"]


def test_tag_listing_follows_link_pagination(registry: Registry, oci_image: str, faulty_proxy) -> None:
    for tag in ("a", "b", "c", "d", "e"):
        copy(oci_image, f"docker://{registry.host}/ns/paged:{tag}")
    proxy = faulty_proxy(registry.port, "paginate")
    ref = api.parse(f"docker://{proxy.host}/ns/paged")
    repo, tags = ref.list_tags(insecure())
    assert repo == f"{proxy.host}/ns/paged"
    # Same tags, same (registry storage) order as one unpaged answer.
    _, unpaged = api.parse(f"docker://{registry.host}/ns/paged").list_tags(insecure())
    assert tags == unpaged and sorted(tags) == ["a", "b", "c", "d", "e"]
    pages = [t for m, t, _ in proxy.requests if "/tags/list" in t]
    assert len(pages) == 3 and "last=" in pages[1]
    # inspect's RepoTags sees every page too.
    assert api.inspect(f"docker://{proxy.host}/ns/paged:a", insecure())["RepoTags"] == tags


@pytest.mark.parametrize("mode", ["deny_tags", "ecr_tags"])
def test_tag_list_refusal_is_a_warning(skopeo: Runner, registry: Registry, oci_image: str, faulty_proxy,
                                       mode: str) -> None:
    copy(oci_image, f"docker://{registry.host}/ns/t:v1")
    proxy = faulty_proxy(registry.port, mode)
    proc = skopeo("inspect", "--tls-verify=false", f"docker://{proxy.host}/ns/t:v1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["RepoTags"] == []
    assert 'level=warning msg="Registry disallows tag list retrieval; skipping"' in proc.stderr
    proc = skopeo("list-tags", "--tls-verify=false", f"docker://{proxy.host}/ns/t")
    assert proc.returncode == 1
    expected = "requested access to the resource is denied" if mode == "deny_tags" else "unknown: 404 page not found"
    assert fatal_message(proc.stderr) == f"Error listing repository tags: fetching tags list: {expected}"


def test_missing_image_is_exit_2(registry: Registry, oci_image: str) -> None:
    copy(oci_image, f"docker://{registry.host}/ns/demo:v1")
    with pytest.raises(ImageNotFoundError) as e:
        api.inspect(f"docker://{registry.host}/ns/demo:nope", insecure())
    assert e.value.exit_code == 2
    assert e.value.message.endswith(f"reading manifest nope in {registry.host}/ns/demo: manifest unknown")


def test_delete_removes_every_tag_of_the_digest(registry: Registry, oci_image: str) -> None:
    copy(oci_image, f"docker://{registry.host}/ns/del:one")
    copy(oci_image, f"docker://{registry.host}/ns/del:two")
    api.delete(f"docker://{registry.host}/ns/del:one", insecure())
    for tag in ("one", "two"):
        with pytest.raises(ImageNotFoundError):
            api.inspect_raw(f"docker://{registry.host}/ns/del:{tag}", insecure())
    with pytest.raises(SkopeoError) as e:
        api.delete(f"docker://{registry.host}/ns/del:one", insecure())
    assert e.value.message == (
        f"Unable to delete {registry.host}/ns/del:one. Image may not exist or is not stored with a v2 Schema in a v2 registry"
    )


def test_delete_disabled(registry_factory, oci_image: str) -> None:
    reg = registry_factory(delete=False)
    copy(oci_image, f"docker://{reg.host}/ns/keep:v1")
    with pytest.raises(SkopeoError) as e:
        api.delete(f"docker://{reg.host}/ns/keep:v1", insecure())
    assert e.value.message == f"deleting {reg.host}/ns/keep:v1: The operation is unsupported."


# --- the CLI -------------------------------------------------------------------------
def test_cli_errors_are_one_line(skopeo: Runner, registry: Registry, oci_image: str) -> None:
    proc = skopeo("copy", "--dest-tls-verify=false", oci_image, f"docker://{registry.host}/ns/demo:v1")
    assert proc.returncode == 0, proc.stderr
    cases = [
        (["inspect", "--tls-verify=false", f"docker://{registry.host}/ns/demo:nope"], 2,
         f'Error parsing image name "docker://{registry.host}/ns/demo:nope": reading manifest nope in '
         f"{registry.host}/ns/demo: manifest unknown"),
        (["inspect", f"docker://{registry.host}/ns/demo:v1"], 1,
         f'Error parsing image name "docker://{registry.host}/ns/demo:v1": pinging container registry '
         f'{registry.host}: Get "https://{registry.host}/v2/": http: server gave HTTP response to HTTPS client'),
        (["inspect", "--tls-verify=false", "docker://127.0.0.1:1/ns/demo:v1"], 1,
         'Error parsing image name "docker://127.0.0.1:1/ns/demo:v1": pinging container registry 127.0.0.1:1: '
         'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'),
        (["inspect", "docker://nosuchhost.invalid/ns/demo:v1"], 1,
         'Error parsing image name "docker://nosuchhost.invalid/ns/demo:v1": pinging container registry '
         'nosuchhost.invalid: Get "https://nosuchhost.invalid/v2/": dial tcp: lookup nosuchhost.invalid: no such host'),
        (["list-tags", "--tls-verify=false", f"docker://{registry.host}/ns/nothere"], 1,
         "Error listing repository tags: fetching tags list: repository name not known to registry"),
        (["list-tags", f"docker://{registry.host}/ns/demo:v1"], 1, "No tag or digest allowed in reference"),
        (["list-tags", "docker:foo"], 1, "docker: image reference docker:foo does not start with docker://"),
        (["inspect", "docker:busybox"], 1,
         'Error parsing image name "docker:busybox": docker: image reference busybox does not start with //'),
    ]
    for args, code, message in cases:
        proc = skopeo(*args)
        assert proc.returncode == code, (args, proc.stderr)
        assert fatal_message(proc.stderr) == message


def test_cli_list_tags_and_delete(skopeo: Runner, registry: Registry, oci_image: str) -> None:
    for tag in ("v2", "v1"):
        skopeo("copy", "--dest-tls-verify=false", oci_image, f"docker://{registry.host}/ns/demo:{tag}", check=True)
    proc = skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/ns/demo", check=True)
    assert proc.stdout == json.dumps({"Repository": f"{registry.host}/ns/demo", "Tags": ["v1", "v2"]}, indent=4) + "\n"
    skopeo("delete", "--tls-verify=false", f"docker://{registry.host}/ns/demo:v1", check=True)
    proc = skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/ns/demo:v2")
    # Deleting v1 deleted the manifest v2 names too.  Upstream main's words and exit code (1.9.3: 1, "…: manifest unknown: manifest unknown").
    assert proc.returncode == 2
    assert fatal_message(proc.stderr) == (f'Error parsing image name "docker://{registry.host}/ns/demo:v2": '
                                          f"reading manifest v2 in {registry.host}/ns/demo: manifest unknown")


# --- interoperability with the reference implementation --------------------------------------
@pytest.mark.oracle
def test_we_push_reference_pulls(skopeo: Runner, reference_skopeo: Runner, registry: Registry, oci_image: str,
                                 tmp_path: Path) -> None:
    dest = f"docker://{registry.host}/interop/ours:v1"
    skopeo("copy", "--dest-tls-verify=false", oci_image, dest, check=True)
    ours = json.loads(skopeo("inspect", "--tls-verify=false", dest, check=True).stdout)
    theirs = json.loads(reference_skopeo("inspect", "--tls-verify=false", dest, check=True).stdout)
    for key in ("Name", "Digest", "RepoTags", "Layers", "Architecture", "Os", "Labels"):
        assert ours[key] == theirs[key], key
    raw_ours = skopeo("inspect", "--raw", "--tls-verify=false", dest, check=True).stdout
    raw_theirs = reference_skopeo("inspect", "--raw", "--tls-verify=false", dest, check=True).stdout
    assert raw_ours == raw_theirs
    reference_skopeo("copy", "--src-tls-verify=false", dest, f"dir:{tmp_path / 'ref-dir'}", check=True)
    assert mf.manifest_digest((tmp_path / "ref-dir" / "manifest.json").read_bytes()) == ours["Digest"]
    tags = reference_skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/interop/ours", check=True)
    assert json.loads(tags.stdout)["Tags"] == ["v1"]


@pytest.mark.oracle
def test_reference_pushes_we_pull(skopeo: Runner, reference_skopeo: Runner, registry: Registry, oci_image: str,
                                  tmp_path: Path) -> None:
    dest = f"docker://{registry.host}/interop/theirs:v1"
    reference_skopeo("copy", "--dest-tls-verify=false", oci_image, dest, check=True)
    theirs = json.loads(reference_skopeo("inspect", "--tls-verify=false", dest, check=True).stdout)
    ours = json.loads(skopeo("inspect", "--tls-verify=false", dest, check=True).stdout)
    assert ours["Digest"] == theirs["Digest"] and ours["Layers"] == theirs["Layers"]
    pulled = f"oci:{tmp_path / 'pulled'}:v1"
    skopeo("copy", "--src-tls-verify=false", dest, pulled, check=True)
    assert len(validate(pulled)) == 2
    # Our copy between two repositories of the registry, read back by the reference tool.
    other = f"docker://{registry.host}/interop/copied:v2"
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", dest, other, check=True)
    again = json.loads(reference_skopeo("inspect", "--tls-verify=false", other, check=True).stdout)
    assert again["Digest"] == theirs["Digest"]


@pytest.mark.oracle
def test_format_v2s1_push(registry_factory, oci_image: str, skopeo: Runner, reference_skopeo: Runner,
                          tmp_path: Path) -> None:
    """A signed schema1 manifest pushed to a registry that accepts them (it checks
    the signature), naming the repository and tag; the reference pulls it."""
    reg = registry_factory(schema1=True)
    dest = f"docker://{reg.host}/legacy/app:v1"
    proc = skopeo("copy", "--dest-tls-verify=false", "--format", "v2s1", oci_image, dest)
    assert proc.returncode == 0, proc.stderr
    raw = reference_skopeo("inspect", "--raw", "--tls-verify=false", dest, check=True).stdout.encode()
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 1 and manifest["name"] == "legacy/app" and manifest["tag"] == "v1"
    assert len(manifest["fsLayers"]) == 2 and "signatures" in manifest
    info = json.loads(reference_skopeo("inspect", "--tls-verify=false", dest, check=True).stdout)
    assert info["Digest"] == mf.manifest_digest(raw)
    reference_skopeo("copy", "--src-tls-verify=false", dest, f"oci:{tmp_path}/pulled:v1", check=True)
    assert validate(f"oci:{tmp_path}/pulled:v1") == validate(oci_image)


@pytest.mark.slow
def test_zstd_chunked_pull_with_podman(registry: Registry, oci_image: str, skopeo: Runner, tmp_path: Path) -> None:
    """A real zstd:chunked consumer: podman (containers/storage) with partial
    pulls enabled.  Current podman fetches our layers file by file through
    their TOC and tar-split; podman 4.3 knows only the previous format's
    annotations (io.containers.zstd-chunked.*), so it cannot pull the current
    format partially and pulls the layers whole, which must work too."""
    import os
    import re
    import subprocess

    from skopeo.testing.require import require_tool, skip_or_fail

    podman = require_tool("podman")
    dest = f"{registry.host}/chunked/app:v1"
    proc = skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd:chunked", oci_image, f"docker://{dest}")
    assert proc.returncode == 0, proc.stderr
    conf = tmp_path / "storage.conf"
    conf.write_text(
        '[storage]\ndriver = "overlay"\n'
        f'graphroot = "{tmp_path / "graph"}"\nrunroot = "{tmp_path / "run"}"\n'
        '[storage.options]\npull_options = {enable_partial_images = "true", use_hard_links = "false", ostree_repos = ""}\n'
    )
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))
    pull = subprocess.run([podman, "--log-level=debug", "pull", "--tls-verify=false", dest], env=env,
                          capture_output=True, text=True, timeout=240)
    if pull.returncode != 0 and "driver not supported" in pull.stderr:
        skip_or_fail("podman-overlay", f"podman cannot use overlay storage here: {pull.stderr[-500:]}")
    assert pull.returncode == 0, pull.stderr[-2000:]
    manifest = json.loads(api.inspect_raw(f"docker://{registry.host}/chunked/app:v1", insecure()))
    version = subprocess.run([podman, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(m.group(1)) if (m := re.search(r"(\d+)\.\d+", version)) else 0
    partial = pull.stderr.count("Retrieved partial blob")
    assert partial == (len(manifest["layers"]) if major >= 5 else 0), pull.stderr[-2000:]
    layers = subprocess.run([podman, "image", "inspect", "--format", "{{json .RootFS.Layers}}", dest], env=env,
                            capture_output=True, text=True, check=True).stdout
    assert json.loads(layers) == json.loads(api.inspect_raw(oci_image, config=True))["rootfs"]["diff_ids"]
