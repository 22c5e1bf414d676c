"""Network faults between us and a real registry (corrupted, truncated and
dropped blob downloads), registries.conf (mirrors, rewriting, insecure, blocked,
v1 format, parsing errors), and the parsers behind them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from skopeo import api
from skopeo.context import SystemContext
from skopeo.copy import CopyOptions
from skopeo.digest import of_bytes
from skopeo.errors import SkopeoError
from skopeo.policy import Policy, PolicyContext
from skopeo.reference import parse_normalized
from skopeo.testing.images import validate
from skopeo.testing.registry import Registry
from skopeo.transport import BlobInfo
from skopeo_docker import body_reader as body_reader_mod
from skopeo_docker import registries_conf, wwwauth
from skopeo_docker.registry_errors import from_response
from skopeo_docker.transport import policy_namespaces

from .conftest import Runner, fatal_message

ACCEPT = PolicyContext(Policy.accept_anything())


def copy(src: str, dest: str, ctx: SystemContext | None = None) -> str:
    ctx = ctx or SystemContext(tls_verify=False)
    return api.copy(src, dest, options=CopyOptions(source_ctx=ctx, dest_ctx=ctx), policy=ACCEPT).digest


@pytest.fixture(autouse=True)
def fast_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_reader_mod, "RESUME_DELAY", 0.05)


# --- faults ------------------------------------------------------------------------------
def test_corrupted_blob_is_detected(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path,
                                    skopeo: Runner) -> None:
    copy(oci_image, f"docker://{registry.host}/f/c:v1")
    proxy = faulty_proxy(registry.port, "corrupt")
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{proxy.host}/f/c:v1", f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 1
    # Every blob is corrupted.  As upstream (main and 1.9.3), a config that
    # cannot be read is not fatal before the layers (an artifact's need not
    # be): a layer's mismatch is what the copy reports.
    msg = fatal_message(proc.stderr)
    assert msg.startswith("writing blob: happened during read: Digest did not match, expected sha256:"), msg
    assert "Copying config" not in proc.stdout


def test_corrupted_config_is_detected_after_the_layers(registry: Registry, oci_image: str, faulty_proxy,
                                                       tmp_path: Path, skopeo: Runner) -> None:
    """Only the config is damaged in transit: as upstream main, the layers are
    copied, the config announced, then refused with main's text; nothing is
    committed."""
    from skopeo.testing.registry import Fault

    copy(oci_image, f"docker://{registry.host}/f/cfg:v1")
    raw = json.loads(api.inspect_raw(f"docker://{registry.host}/f/cfg:v1", SystemContext(tls_verify=False)))
    config = raw["config"]["digest"]
    proxy = faulty_proxy(registry.port, "none", [Fault(rf"^GET \S*/blobs/{config}", action="corrupt", times=None)])
    out = tmp_path / "out"
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{proxy.host}/f/cfg:v1", f"oci:{out}:v1")
    assert proc.returncode == 1
    msg = fatal_message(proc.stderr)
    assert msg.startswith(f"reading config blob {config}: config validation failed: blob digest sha256:"), msg
    assert msg.endswith(f" does not match expected {config}"), msg
    assert proc.stdout.count("Copying blob ") == len(raw["layers"]), proc.stdout
    assert proc.stdout.rstrip().endswith(f"Copying config {config}"), proc.stdout
    assert not (out / "index.json").exists() or "v1" not in (out / "index.json").read_text()


def test_dropped_connection_is_resumed(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path) -> None:
    digest = copy(oci_image, f"docker://{registry.host}/f/d:v1")
    proxy = faulty_proxy(registry.port, "drop_once")
    out = f"oci:{tmp_path / 'out'}:v1"
    assert copy(f"docker://{proxy.host}/f/d:v1", out) == digest
    assert len(validate(out)) == 2
    ranged = [h for m, t, h in proxy.requests if any(k.lower() == "range" for k, _ in h)]
    assert ranged, "the download was not resumed with a Range request"


def test_connection_closed_mid_blob_fails_cleanly(registry: Registry, oci_image: str, faulty_proxy, tmp_path: Path,
                                                  skopeo: Runner) -> None:
    copy(oci_image, f"docker://{registry.host}/f/t:v1")
    proxy = faulty_proxy(registry.port, "truncate_all")
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{proxy.host}/f/t:v1", f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 1
    msg = fatal_message(proc.stderr)
    # A layer's failure, as upstream: an unreadable config is not fatal before the layers.
    assert msg.startswith("writing blob: happened during read: ") and msg.endswith(": unexpected EOF"), msg


# --- registries.conf -----------------------------------------------------------------------
def write_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    conf = tmp_path / "test-registries.conf"
    conf.write_text(text)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    return conf


def test_insecure_from_registries_conf(registry: Registry, oci_image: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    # No --tls-verify: registries.conf allows the HTTP fallback.
    copy(oci_image, f"docker://{registry.host}/c/i:v1", SystemContext())
    assert api.inspect(f"docker://{registry.host}/c/i:v1", SystemContext())["RepoTags"] == ["v1"]


def test_blocked_registry(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{registry.host}"\nblocked = true\n')
    with pytest.raises(SkopeoError) as e:
        api.inspect(f"docker://{registry.host}/c/b:v1", SystemContext(tls_verify=False))
    assert e.value.message.endswith(f"registry {registry.host} is blocked in {conf} or /etc/containers/registries.conf.d")


def test_mirror_and_location_rewriting(registry_factory, oci_image: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    primary = registry_factory()
    mirror = registry_factory()
    digest = copy(oci_image, f"docker://{mirror.host}/mirrored/app:v1")

    def mirrored_by(path: str) -> None:
        write_conf(tmp_path, monkeypatch, f"""
[[registry]]
prefix = "example.test/app"
location = "{primary.host}/upstream/app"
insecure = true

[[registry.mirror]]
location = "{mirror.host}/{path}"
insecure = true
""")

    mirrored_by("mirrored/app")
    # Pulls go to the mirror (the primary does not have the image).
    info = api.inspect("docker://example.test/app:v1", SystemContext(), no_tags=True)
    assert info["Digest"] == digest
    assert info["Name"] == "example.test/app"
    # A mirror without the image: the primary's error is reported with the mirror's.
    mirrored_by("broken/app")
    with pytest.raises(SkopeoError) as e:
        api.inspect("docker://example.test/app:v1", SystemContext(), no_tags=True)
    assert e.value.message.endswith(
        f"(Mirrors also failed: [{mirror.host}/broken/app:v1: reading manifest v1 in {mirror.host}/broken/app: "
        f"manifest unknown]): {primary.host}/upstream/app:v1: reading manifest v1 in {primary.host}/upstream/app: "
        "manifest unknown"
    )
    assert e.value.exit_code == 2


def test_registries_conf_parsing(tmp_path: Path) -> None:
    def load(text: str) -> registries_conf.RegistriesConf:
        path = tmp_path / "r.conf"
        path.write_text(text)
        return registries_conf.load(SystemContext(registries_conf=str(path)))

    conf = load("""
unqualified-search-registries = ["example.com"]
credential-helpers = ["containers-auth.json", "pass"]
short-name-mode = "enforcing"
[[registry]]
prefix = "example.com"
location = "mirror.example.com"
[[registry]]
prefix = "example.com/ns"
location = "ns.example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m1.example.com"
[[registry]]
prefix = "*.wild.example"
blocked = true
[aliases]
"short" = "example.com/short"
""")
    assert conf.credential_helpers == ["containers-auth.json", "pass"]
    assert conf.find_registry("example.com/ns/repo").location == "ns.example.com"  # type: ignore[union-attr]
    assert conf.find_registry("example.com/other").location == "mirror.example.com"  # type: ignore[union-attr]
    assert conf.find_registry("example.comx/other") is None
    assert conf.find_registry("a.b.wild.example/x").blocked  # type: ignore[union-attr]
    assert conf.find_registry("wild.example/x") is None
    reg = conf.find_registry("example.com/ns/repo")
    assert reg is not None
    tagged = parse_normalized("example.com/ns/repo:v1")
    assert [r for _, r in reg.pull_sources(tagged)] == ["ns.example.com/repo:v1"]
    digested = parse_normalized("example.com/ns/repo@sha256:" + "a" * 64)
    assert [r for _, r in reg.pull_sources(digested)] == [
        "m1.example.com/repo@sha256:" + "a" * 64, "ns.example.com/repo@sha256:" + "a" * 64,
    ]
    # v1 format in the main file.
    v1 = load('[registries.search]\nregistries = ["a.example"]\n[registries.insecure]\nregistries = ["b.example"]\n'
              '[registries.block]\nregistries = ["c.example"]\n')
    assert v1.find_registry("b.example/x").insecure  # type: ignore[union-attr]
    assert v1.find_registry("c.example/x").blocked  # type: ignore[union-attr]
    errors = {
        '[registries.search]\nregistries = []\n[[registry]]\nlocation = "x"\n': "mixing sysregistry v1/v2 is not supported",
        '[[registry]]\nprefix = "x.example"\n': "invalid condition: location is unset and prefix is not in the format: *.example.com",
        '[[registry]]\nlocation = "https://x.example"\n': "invalid location 'https://x.example': URI schemes are not supported",
        '[[registry]]\nprefix = "*.x.example/ns"\n': 'Wildcarded prefix should be in the format: *.example.com. Current prefix "*.x.example/ns" is incorrectly formatted',
        '[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n': 'unsupported pull-from-mirror value "sometimes" for mirror "m"',
        'short-name-mode = "lax"\n': 'invalid short-name mode: "lax"',
    }
    for text, message in errors.items():
        with pytest.raises(SkopeoError) as e:
            load(text)
        assert e.value.message.endswith(message), (text, e.value.message)


def test_drop_ins_override(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF")
    user = isolated_home / ".config" / "containers"
    (user / "registries.conf.d").mkdir(parents=True)
    (user / "registries.conf").write_text('[[registry]]\nlocation = "a.example"\ninsecure = true\n')
    (user / "registries.conf.d" / "10-b.conf").write_text('[[registry]]\nlocation = "a.example"\nblocked = true\n')
    (user / "registries.conf.d" / "20-c.conf").write_text('credential-helpers = ["x"]\n')
    conf = registries_conf.load(SystemContext())
    reg = conf.find_registry("a.example/r")
    assert reg is not None and reg.blocked and not reg.insecure
    assert conf.credential_helpers == ["x"]
    (user / "registries.conf.d" / "30-v1.conf").write_text('[registries.search]\nregistries = ["q"]\n')
    with pytest.raises(SkopeoError) as e:
        registries_conf.load(SystemContext())
    assert e.value.message.endswith("registry must be in v2 format but is in v1")


# --- small parsers -----------------------------------------------------------------------------
def test_www_authenticate_parsing() -> None:
    assert wwwauth.parse(['Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"']) == [
        ("bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"})
    ]
    assert wwwauth.parse(['Basic realm="x \\"y\\""']) == [("basic", {"realm": 'x "y"'})]


def test_registry_error_messages() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}'
    err = from_response(404, "Not Found", body)
    assert err.message == "manifest unknown" and err.exit_code == 2
    err = from_response(400, "Bad Request", b'{"errors":[{"code":"MANIFEST_INVALID","message":"bad layer"}]}')
    assert err.message == "manifest invalid: bad layer"
    page = b"<html>not found, this is a long page body with more words</html>"
    err = from_response(404, "Not Found", page)
    assert err.message == f'StatusCode: 404, "{page[:50].decode()}..."'
    assert from_response(500, "Internal Server Error", b"{}").message == (
        "received unexpected HTTP status: 500 Internal Server Error"
    )
    err = from_response(401, "Unauthorized", b"", [("bearer", {"error": "insufficient_scope"})])
    assert err.code == "DENIED" and err.message == "requested access to the resource is denied"
    # Go's %q of the first 50 bytes, for a body that is not JSON: escapes, and
    # \xNN for bytes that are not UTF-8 (here the 50-byte cut splits an "é").
    body = b'a"b\\c\n\r\t\x01\x7f\xff' + ("é" * 20).encode()  # 51 bytes
    err = from_response(404, "Not Found", body, [])
    assert err.message == 'StatusCode: 404, "a\\"b\\\\c\\n\\r\\t\\x01\\x7f\\xff' + "é" * 19 + '\\xc3..."'


def test_policy_namespaces() -> None:
    assert policy_namespaces(parse_normalized("a.b.example.com:5000/ns/repo:tag")) == [
        "a.b.example.com:5000/ns/repo", "a.b.example.com:5000/ns", "a.b.example.com:5000",
        "*.b.example.com", "*.example.com", "*.com",
    ]


def _imports_after(statements: str) -> set[str]:
    """The modules a fresh interpreter holds after running *statements*."""
    code = f"import sys\n{statements}\nprint(' '.join(sys.modules))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_cli_start_up_does_not_import_httpx() -> None:
    loaded = _imports_after(
        "from skopeo import plugins\n"
        "plugins.transports()\n"
        "plugins.parse_image_name('docker://busybox')\n"
        "from skopeo.cli import main\n"
        "main(['manifest-digest', '/dev/null'])"
    )
    assert "httpx" not in loaded


# --- proxies ---------------------------------------------------------------------------------
def test_proxy_from_environment(registry: Registry, oci_image: str, faulty_proxy, skopeo: Runner,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY/HTTPS_PROXY carry registry traffic (absolute-form requests to the
    proxy); NO_PROXY and loopback hosts go direct, as Go's ProxyFromEnvironment."""
    digest = copy(oci_image, f"docker://{registry.host}/p/x:v1")
    proxy = faulty_proxy(registry.port, "none")  # forwards whatever it gets to the registry
    monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.host}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://{proxy.host}")
    # A name only the proxy "resolves" (it sends everything to the registry).
    remote = f"docker://registry.proxied.test:{registry.port}/p/x:v1"
    proc = skopeo("inspect", "--tls-verify=false", remote)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Digest"] == digest
    targets = [t for _, t, _ in proxy.requests]
    assert f"http://registry.proxied.test:{registry.port}/v2/" in targets
    assert any(t.startswith(f"http://registry.proxied.test:{registry.port}/v2/p/x/manifests/") for t in targets)
    seen = len(proxy.requests)
    # Loopback registries never go through the proxy.
    assert skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/p/x:v1").returncode == 0
    assert len(proxy.requests) == seen
    # NO_PROXY exempts a host: the name then fails to resolve, directly.
    monkeypatch.setenv("NO_PROXY", "registry.proxied.test")
    proc = skopeo("inspect", "--tls-verify=false", remote)
    assert proc.returncode == 1
    # Go adds the resolver ("lookup NAME on 10.0.0.1:53: …"); upstream main also puts
    # "fetching manifest v1 in NAME/p/x: " before "pinging".
    host = f"registry.proxied.test:{registry.port}"
    msg = fatal_message(proc.stderr)
    assert msg.startswith(f'Error parsing image name "{remote}": '), msg
    assert msg.endswith(f'pinging container registry {host}: Get "http://{host}/v2/": '
                        "dial tcp: lookup registry.proxied.test: no such host"), msg
    assert len(proxy.requests) == seen


def test_registry_commands_import_neither_typer_nor_httpx() -> None:
    """Start-up: flags are parsed without typer, and the registry client speaks
    through http.client (see skopeo_docker.http_messages): no httpx, httpcore or h11."""
    loaded = _imports_after("from skopeo.cli import main\nmain(['inspect', '--tls-verify=false', 'docker://127.0.0.1:9/x'])")
    assert "skopeo_docker.client" in loaded
    assert not loaded & {"typer", "httpx", "httpcore", "h11", "click"}


def test_console_script_does_not_load_httpx_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx imports its click-based CLI when click is installed (typer brings
    it); the console script blocks that import, saving ~10 ms per run of a
    command that uses httpx (the docker-daemon transport)."""
    monkeypatch.setenv("SKOPEO_PLUGINS", "daemon")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sys.modules)))\n"
        "sys.argv = ['skopeo', 'inspect', 'docker-daemon:busybox:latest']\n"
        "from skopeo.cli import entry\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    loaded = set(proc.stdout.split())
    assert "httpx" in loaded
    assert "click" not in loaded


# --- upload sessions opened ahead of put_blob ------------------------------------------------------
def _upload_sessions(registry: Registry, repo: str) -> list[str]:
    """Open upload sessions of *repo*.  (A cancelled session leaves only its
    ``hashstates``: distribution 2.8 writes them again while closing it.)"""
    uploads = registry.directory / "storage" / "docker" / "registry" / "v2" / "repositories" / repo / "_uploads"
    return sorted(p.name for p in uploads.iterdir() if (p / "startedat").exists()) if uploads.is_dir() else []


def test_upload_session_opened_early_is_used_or_cancelled(registry: Registry, faulty_proxy) -> None:
    """A blob the destination lacks gets its upload session (POST) right after
    the existence check, while the copy opens the source: put_blob uses that
    session instead of POSTing again, and close() cancels one never used."""
    proxy = faulty_proxy(registry.port, "none")
    ctx = SystemContext(tls_verify=False)
    data = b"early upload session\n"
    used = BlobInfo(of_bytes(data), len(data), "application/octet-stream")
    dest = api.parse(f"docker://{proxy.host}/early/used:v1").new_image_destination(ctx)
    try:
        assert dest.try_reusing_blob(used) is None
        assert dest.put_blob(io.BytesIO(data), used).digest == used.digest
    finally:
        dest.close()
    posts = [t for m, t, _ in proxy.requests if m == "POST"]
    assert len(posts) == 1, posts
    assert _upload_sessions(registry, "early/used") == []

    unused = BlobInfo(of_bytes(b"never sent"), 10, "application/octet-stream")
    dest = api.parse(f"docker://{proxy.host}/early/unused:v1").new_image_destination(ctx)
    assert dest.try_reusing_blob(unused) is None
    dest.close()  # the copy failed before this blob was uploaded
    # Its session was either never opened (cancelled before a worker took it)
    # or opened and then deleted: none is left behind.
    methods = [m for m, _, _ in proxy.requests]
    assert methods.count("POST") - 1 == methods.count("DELETE") <= 1, methods
    assert _upload_sessions(registry, "early/unused") == []
