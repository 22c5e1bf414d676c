"""``skopeo experimental-image-proxy`` through a client written from the protocol
(skopeo.testing.imageproxy): local layouts, a real registry, malformed requests.

Expected replies were recorded from upstream main (``/tmp/skopeo-main``);
``test_same_replies_as_upstream`` replays a session against it when present."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skopeo import digest as digest_mod
from skopeo import imageconfig
from skopeo import manifest as mf
from skopeo.errors import SkopeoError
from skopeo.golang import gojson
from skopeo.imageproxy import protocol
from skopeo.testing import images
from skopeo.testing.fixtures import skopeo_command
from skopeo.testing.imageproxy import ProxyClient, Reply
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main

UPSTREAM = find_upstream_main() or DEFAULT_UPSTREAM
ZERO_DIGEST = "sha256:" + "0" * 64


@pytest.fixture
def proxy_factory(policy_file: Path) -> Iterator[Callable[..., ProxyClient]]:
    clients: list[ProxyClient] = []

    def start(*extra: str, command: list[str] | None = None, global_flags: tuple[str, ...] = ()) -> ProxyClient:
        base = command or skopeo_command()
        client = ProxyClient([*base, "--policy", str(policy_file), *global_flags], extra)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def proxy(proxy_factory: Callable[..., ProxyClient]) -> ProxyClient:
    client = proxy_factory()
    assert client.call("Initialize").value == protocol.PROTOCOL_VERSION
    return client


@pytest.fixture
def layouts(tmp_path: Path) -> Path:
    """``oci:…/single:t1``, ``oci:…/multi:m`` (amd64/arm64/ppc64le) and
    ``oci:…/docker:d`` (a schema2 manifest with a Docker-style config)."""
    images.make_image(str(tmp_path / "single"), "t1")
    images.make_multiarch(str(tmp_path / "multi"), "m")
    _docker_image(tmp_path / "docker", "d")
    return tmp_path


def _docker_image(path: Path, tag: str) -> None:
    """A schema2 image whose config re-encoded as OCI differs from the stored
    bytes (extra Docker fields, another key order)."""
    w = images.OCILayoutWriter(str(path))
    tar = images.random_layer_tar(7)
    layer = w.blob(images.gzip_bytes(tar))
    config = {
        "architecture": "amd64", "os": "linux", "docker_version": "20.10.7",
        "container_config": {"Hostname": "abc", "Cmd": ["sh"]},
        "config": {"Cmd": ["sh"], "Env": ["A=1"], "Labels": {"b": "2", "a": "<&>"}},
        "created": "2026-01-02T03:04:05.5Z",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }
    cfg = w.blob(json.dumps(config, indent=2).encode())
    m = mf.ImageManifest(mf.DOCKER_V2S2, b"", mf.Descriptor(mf.DOCKER_CONFIG, cfg.digest, cfg.size),
                         [mf.Descriptor(mf.DOCKER_LAYER_GZIP, layer.digest, layer.size)], {})
    raw = m.serialize()
    written = w.blob(raw)
    w.tag(images.Written(written.digest, written.size, mf.DOCKER_V2S2), tag)


def _blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _stored_manifest(layout: Path) -> bytes:
    index = json.loads((layout / "index.json").read_bytes())
    return _blob_path(layout, index["manifests"][0]["digest"]).read_bytes()


# --- the wire format, as pure functions -------------------------------------------
@pytest.mark.parametrize(("packet", "error"), [
    (b"not json", "invalid request: invalid character 'o' in literal null (expecting 'u')"),
    (b"[]", "invalid request: json: cannot unmarshal array into Go value of type jsonproxy.request"),
    (b"3", "invalid request: json: cannot unmarshal number into Go value of type jsonproxy.request"),
    (b'"x"', "invalid request: json: cannot unmarshal string into Go value of type jsonproxy.request"),
    (b"true", "invalid request: json: cannot unmarshal bool into Go value of type jsonproxy.request"),
    (b'{"method":3}', "invalid request: json: cannot unmarshal number into Go struct field request.method of type string"),
    (b'{"method":"X","args":{}}',
     "invalid request: json: cannot unmarshal object into Go struct field request.args of type []interface {}"),
    (b'{"method":"OpenImage","args":"x"}',
     "invalid request: json: cannot unmarshal string into Go struct field request.args of type []interface {}"),
    (b'{"method":"x","args":{},"method":4}',
     "invalid request: json: cannot unmarshal object into Go struct field request.args of type []interface {}"),
    (b'{"method":"x","args":[1e400]}', "invalid request: json: cannot unmarshal number 1e400 into request.args.0 of type float64"),
    (b'{"method":"x","args":[[1e400]]}',
     "invalid request: json: cannot unmarshal number 1e400 into request.args.0.0 of type float64"),
    (b'{"method":"x","args":[{"a":1e400}]}',
     "invalid request: json: cannot unmarshal number 1e400 into Go struct field request.args.0.a of type float64"),
    (b'{"method":"Initialize","args":[]} x', "invalid request: invalid character 'x' after top-level value"),
    (b"\xff", "invalid request: invalid character '\\xff' looking for beginning of value"),
    (b"\xc3\xa9", "invalid request: invalid character '\u00e9' looking for beginning of value"),
    (b"\xe2\x80\xa8", "invalid request: invalid character '\\u2028' looking for beginning of value"),
    (b"\xef\xbb\xbf{}", "invalid request: invalid character '\\ufeff' looking for beginning of value"),
    (b"{'method':'x'}", "invalid request: invalid character '\\'' looking for beginning of object key string"),
    (b'{"method":"x" "args":[]}', "invalid request: invalid character '\"' after object key:value pair"),
    (b'{"method":"GetManifest","args":[1],}', "invalid request: invalid character '}' looking for beginning of object key string"),
    (b'{"method":"GetManifest","args":[1]', "invalid request: unexpected end of JSON input"),
    (b" ", "invalid request: unexpected end of JSON input"),
    (b"nul", "invalid request: unexpected end of JSON input"),
    (b"nulx", "invalid request: invalid character 'x' in literal null (expecting 'l')"),
    (b'{"a":tru}', "invalid request: invalid character '}' in literal true (expecting 'e')"),
    (b'{"method":"GetManifest","args":[1.]}', "invalid request: invalid character ']' in numeric literal"),
    (b"[1.e5]", "invalid request: invalid character 'e' in numeric literal"),
    (b"[1e+]", "invalid request: invalid character ']' in numeric literal"),
    (b"[01]", "invalid request: invalid character '1' after array element"),
    (b'{"method":"a\x01"}', "invalid request: invalid character '\\x01' in string"),
    (b'{"method":"a\tb"}', "invalid request: invalid character '\\t' in string"),
    (b'{"method":"\\x"}', "invalid request: invalid escape sequence `\\x` in string"),
    (b'{"method":"\\u12x"}', 'invalid request: invalid escape sequence `\\u12x"` in string'),
    (b'{"method":"\\u"}', 'invalid request: invalid escape sequence `\\u"}` in string'),
    (b"[" * 10001, "invalid request: exceeded max depth"),
    (b'{"args":' + b"[" * 10000 + b"]" * 10000 + b"}", "invalid request: exceeded max depth"),
])
def test_malformed_requests_are_described_as_upstream(packet: bytes, error: str) -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode_request(packet)
    assert info.value.message == error


@pytest.mark.parametrize(("packet", "method", "args"), [
    (b"null", "", []),
    (b"{}", "", []),
    (b'{"method":null,"args":null}', "", []),
    (b'{"METHOD":"Initialize","ARGS":[]}', "Initialize", []),
    (b'{"method":"Initialize","args":[],"Args":[1]}', "Initialize", [1.0]),
    (b'{"method":"Initialize","method":"Foo"}', "Foo", []),
    (b'{"method":"Initialize","args":[],"extra":{"x":[1]}}', "Initialize", []),
    (b'{"method":"\xff"}', "\ufffd", []),
    (b'{"method":"\\ud800"}', "\ufffd", []),
    (b'{"method":"\xed\xa0\x80"}', "\ufffd\ufffd\ufffd", []),
    (b'{"method":"GetBlob","args":[1,"d",{"a":[true,null]}]}', "GetBlob", [1.0, "d", {"a": [True, None]}]),
    (b'\t{"method":"x"}\r\n', "x", []),
])
def test_requests_are_decoded_as_go_does(packet: bytes, method: str, args: list[object]) -> None:
    assert protocol.decode_request(packet) == protocol.Request(method, args)


def test_nesting_as_deep_as_go_allows() -> None:
    request = protocol.decode_request(b'{"method":"x","args":' + b"[" * 9999 + b"]" * 9999 + b"}")
    depth, value = 0, request.args
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 9998


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), (1.9, 1), (0, 0), (-1, 2**64 - 1), (-0.5, 0), (-2.5, 2**64 - 2), (-1e300, 2**63),
    (9007199254740991, 9007199254740991),
])
def test_uint64_arguments_convert_as_go_on_amd64(value: float, expected: int) -> None:
    assert protocol.parse_uint64(value) == expected


@pytest.mark.parametrize(("value", "error"), [
    ("1", "expecting numeric, not string"),
    (True, "expecting numeric, not bool"),
    (None, "expecting numeric, not <nil>"),
    ([], "expecting numeric, not []interface {}"),
    ({}, "expecting numeric, not map[string]interface {}"),
    (9007199254740992, "out of range integer for numeric 9007199254740992.000000"),
    (1e20, "out of range integer for numeric 100000000000000000000.000000"),
])
def test_uint64_argument_errors(value: object, error: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=f"^{__import__('re').escape(error)}$"):
        protocol.parse_uint64(value)


@pytest.mark.parametrize(("digest", "error"), [
    ("foo", "invalid checksum digest format"),
    (":abc", "invalid checksum digest format"),
    ("sha256:", "invalid checksum digest format"),
    ("sha256:abc", "invalid checksum digest length"),
    ("md5:abc", "unsupported digest algorithm"),
    ("MD5:abc", "invalid checksum digest format"),
    ("sha256:" + "A" * 64, "invalid checksum digest format"),
    ("sha384:" + "a" * 96, None),
    ("sha512:" + "0" * 128, None),
])
def test_digest_arguments_are_checked_as_go_digest(digest: str, error: str | None) -> None:
    if error is None:
        assert digest_mod.parse(digest) == digest
    else:
        with pytest.raises(SkopeoError, match=f"^{error}$"):
            digest_mod.parse(digest)


def test_reply_encoding_is_gos() -> None:
    assert protocol.encode_reply("0.2.8") == b'{"success":true,"value":"0.2.8","pipeid":0,"error_code":"","error":""}'
    err = protocol.encode_reply(error=protocol.ProtocolError("unknown method: <&>"))
    assert err == (b'{"success":false,"value":null,"pipeid":0,"error_code":"other",'
                   b'"error":"unknown method: \\u003c\\u0026\\u003e"}')
    assert protocol.encode_pipe_error(protocol.PipeClosedError()) == b'{"code":"EPIPE","message":"write |1: broken pipe"}'


# --- local transports ----------------------------------------------------------------
def test_a_session_on_an_oci_layout(proxy: ProxyClient, layouts: Path) -> None:
    layout = layouts / "single"
    image = proxy.call("OpenImage", f"oci:{layout}:t1").value
    assert image == 1
    raw = _stored_manifest(layout)
    digest, manifest = proxy.call_pipe("GetManifest", image)
    assert (digest, manifest) == (mf.manifest_digest(raw), raw)
    parsed = json.loads(raw)
    config_raw = _blob_path(layout, parsed["config"]["digest"]).read_bytes()
    value, full = proxy.call_pipe("GetFullConfig", image)
    assert value is None
    assert full == gojson.marshal(imageconfig.to_oci_config(config_raw))
    assert proxy.call_pipe("GetConfig", image)[1] == b'{"Env":["PATH=/bin"],"Labels":{"example":"yes"}}'
    expected_layers = [{"digest": d["digest"], "size": d["size"], "media_type": d["mediaType"]} for d in parsed["layers"]]
    assert proxy.call("GetLayerInfo", image).value == expected_layers
    assert json.loads(proxy.call_pipe("GetLayerInfoPiped", image)[1]) == expected_layers
    layer = expected_layers[1]
    size, data = proxy.call_pipe("GetBlob", image, layer["digest"], layer["size"])
    assert size == layer["size"]
    assert data == _blob_path(layout, layer["digest"]).read_bytes()
    size, data, errors = proxy.call_raw_blob(image, layer["digest"])
    assert (size, errors) == (layer["size"], b"")
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
    assert proxy.call("CloseImage", image).value is None
    assert proxy.call_reply("GetManifest", image).error == "no image 1"
    assert proxy.call("OpenImage", f"oci:{layout}:t1").value == 2  # ids are never reused
    proxy.send_raw(b'{"method":"Shutdown","args":[]}')
    assert proxy.close() == (0, "")


def test_schema2_is_served_as_oci_with_its_config_reencoded(proxy: ProxyClient, layouts: Path) -> None:
    layout = layouts / "docker"
    image = proxy.call("OpenImage", f"oci:{layout}:d").value
    raw = _stored_manifest(layout)
    digest, manifest = proxy.call_pipe("GetManifest", image)
    assert digest == mf.manifest_digest(raw)  # the stored manifest's digest
    oci = json.loads(manifest)
    assert oci["mediaType"] == mf.OCI_MANIFEST
    assert [d["mediaType"] for d in oci["layers"]] == [mf.OCI_LAYER_GZIP]
    _, full = proxy.call_pipe("GetFullConfig", image)
    # As containers/image: the manifest names the config as GetFullConfig serves it.
    assert oci["config"] == {"mediaType": mf.OCI_CONFIG, "digest": "sha256:" + hashlib.sha256(full).hexdigest(),
                             "size": len(full)}
    assert full.startswith(b'{"created":"2026-01-02T03:04:05.5Z","architecture":"amd64","os":"linux","config":')
    assert b"docker_version" not in full
    _, config = proxy.call_pipe("GetConfig", image)
    assert config == b'{"Env":["A=1"],"Cmd":["sh"],"Labels":{"a":"\\u003c\\u0026\\u003e","b":"2"}}'
    # The layer list keeps the stored media types.
    assert proxy.call("GetLayerInfo", image).value[0]["media_type"] == mf.DOCKER_LAYER_GZIP


def test_lists_resolve_to_this_platform(proxy_factory: Callable[..., ProxyClient], layouts: Path) -> None:
    layout = layouts / "multi"
    index = json.loads(_stored_manifest(layout))
    by_arch = {d["platform"]["architecture"]: d["digest"] for d in index["manifests"]}
    client = proxy_factory(global_flags=("--override-arch", "arm64"))
    client.call("Initialize")
    image = client.call("OpenImage", f"oci:{layout}:m").value
    digest, manifest = client.call_pipe("GetManifest", image)
    assert digest == by_arch["arm64"] == mf.manifest_digest(manifest)
    other = proxy_factory(global_flags=("--override-arch", "s390x"))
    other.call("Initialize")
    assert other.call_reply("OpenImage", f"oci:{layout}:m").error == \
        'no image found in image index for architecture "s390x", variant "", OS "linux"'


def test_schema1_is_refused_by_get_manifest_only(proxy: ProxyClient, layouts: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", "--format", "v2s1", f"oci:{layouts / 'single'}:t1", f"dir:{layouts / 'v2s1'}", check=True)
    image = proxy.call("OpenImage", f"dir:{layouts / 'v2s1'}").value
    reply = proxy.call_reply("GetManifest", image)
    assert (reply.success, reply.error_code, reply.error) == (
        False, "other", "unsupported legacy manifest MIME type: application/vnd.docker.distribution.manifest.v1+prettyjws")
    layers = proxy.call("GetLayerInfo", image).value
    assert {(entry["size"], entry["media_type"]) for entry in layers} == {(-1, "")}
    config = json.loads(proxy.call_pipe("GetFullConfig", image)[1])
    assert config["rootfs"]["diff_ids"] == ["", ""]
    # The schema1 size is unknown (-1), which GetBlob takes as a uint64.
    reply = proxy.call("GetBlob", image, layers[0]["digest"], layers[0]["size"])
    _, done = proxy.read_and_finish(reply)
    assert done.error == "expected 18446744073709551615 bytes in blob, got " + str(reply.value)


def test_blob_errors_are_reported_by_finish_pipe(proxy: ProxyClient, layouts: Path) -> None:
    layout = layouts / "single"
    image = proxy.call("OpenImage", f"oci:{layout}:t1").value
    layer = proxy.call("GetLayerInfo", image).value[0]
    reply = proxy.call("GetBlob", image, layer["digest"], 5)
    data, done = proxy.read_and_finish(reply)
    assert len(data) == layer["size"]
    assert (done.success, done.error_code, done.error) == (False, "other", f"expected 5 bytes in blob, got {layer['size']}")
    path = _blob_path(layout, layer["digest"])
    blob = bytearray(path.read_bytes())
    blob[100] ^= 1
    path.write_bytes(bytes(blob))
    reply = proxy.call("GetBlob", image, layer["digest"], layer["size"])
    data, done = proxy.read_and_finish(reply)
    assert data == bytes(blob)
    assert done.error == f"corrupted blob, expecting {layer['digest']}"
    # GetRawBlob does not verify: the client does.
    size, data, errors = proxy.call_raw_blob(image, layer["digest"])
    assert (size, data, errors) == (layer["size"], bytes(blob), b"")
    # Wrong size and wrong digest: the digest is what is reported.
    reply = proxy.call("GetBlob", image, layer["digest"], 3)
    assert proxy.read_and_finish(reply)[1].error == f"corrupted blob, expecting {layer['digest']}"


def test_a_client_closing_its_pipe_gets_epipe(proxy: ProxyClient, tmp_path: Path) -> None:
    # A blob larger than a pipe's buffer, so the writer is still writing when
    # the client closes its end.
    images.make_image(str(tmp_path / "big"), "b", layers=1)
    w = images.OCILayoutWriter(str(tmp_path / "big"))
    big = os.urandom(4 << 20)
    blob = w.blob(big)
    image = proxy.call("OpenImage", f"oci:{tmp_path / 'big'}:b").value
    reply = proxy.call("GetBlob", image, blob.digest, blob.size)
    os.close(reply.fds[0])
    done = proxy.finish(reply.pipeid)
    assert (done.success, done.error_code, done.error) == (False, "EPIPE", "write |1: broken pipe")
    reply = proxy.call("GetRawBlob", image, blob.digest)
    os.close(reply.fds[0])
    assert proxy.read_fd(reply.fds[1]) == b'{"code":"EPIPE","message":"write |1: broken pipe"}'


def _error(reply: Reply) -> tuple[str, str]:
    assert not reply.success and reply.value is None and reply.pipeid == 0 and not reply.fds, reply
    return reply.error_code, reply.error


@pytest.mark.parametrize(("method", "args", "error"), [
    ("Initialize", [1], "invalid request, expecting zero arguments"),
    ("Initialize", [], "already initialized"),
    ("Nope", [], "unknown method: Nope"),
    ("OpenImage", [], "invalid request, expecting one argument"),
    ("OpenImage", ["x", "y"], "invalid request, expecting one argument"),
    ("OpenImage", [1], "expecting string imageref, not float64"),
    ("OpenImage", [None], "expecting string imageref, not <nil>"),
    ("OpenImage", ["nope:x"], 'Invalid image name "nope:x", unknown transport "nope"'),
    ("OpenImage", ["x"], 'Invalid image name "x", expected colon-separated transport:reference'),
    ("OpenImage", ["oci:/nonexistent:x"], "open /nonexistent/index.json: no such file or directory"),
    ("OpenImageOptional", ["oci:/nonexistent:x"], "open /nonexistent/index.json: no such file or directory"),
    ("CloseImage", [], "invalid request, expecting one argument"),
    ("CloseImage", [7], "no image 7"),
    ("GetManifest", [0], "invalid imageid value of zero"),
    ("GetManifest", ["1"], "expecting numeric, not string"),
    ("GetManifest", [-1], "no image 18446744073709551615"),
    ("GetManifest", [9007199254740992], "out of range integer for numeric 9007199254740992.000000"),
    ("GetConfig", [], "invalid request, expecting: [imgid]"),
    ("GetFullConfig", [1, 2], "invalid request, expecting: [imgid]"),
    ("GetLayerInfo", [], "found 0 args, expecting (imgid)"),
    ("GetLayerInfoPiped", [1, 1], "found 2 args, expecting (imgid)"),
    ("GetBlob", [1], "found 1 args, expecting (imgid, digest, size)"),
    ("GetBlob", [1, 3, 4], "expecting string blobid"),
    ("GetBlob", [1, "sha256:abc", "x"], "expecting numeric, not string"),
    ("GetBlob", [1, "sha256:abc", 4], "invalid checksum digest length"),
    ("GetBlob", [1, "foo", 4], "invalid checksum digest format"),
    ("GetBlob", [1, "md5:abc", 4], "unsupported digest algorithm"),
    ("GetRawBlob", [1, "x", 3], "found 3 args, expecting (imgid, digest)"),
    ("GetRawBlob", [1, "sha512:abc"], "invalid checksum digest length"),
    ("FinishPipe", [99], "finishpipe: no active pipe 99"),
    ("FinishPipe", [0], "finishpipe: no active pipe 0"),
    ("FinishPipe", ["a"], "expecting numeric, not string"),
    # Upstream crashes on this one (it reads args[0] unchecked); we answer.
    ("FinishPipe", [], "invalid request, expecting one argument"),
])
def test_bad_calls(proxy: ProxyClient, layouts: Path, method: str, args: list[object], error: str) -> None:
    assert proxy.call("OpenImage", f"oci:{layouts / 'single'}:t1").value == 1
    assert _error(proxy.call_reply(method, *args)) == ("other", error)


def test_missing_images_and_blobs(proxy: ProxyClient, layouts: Path) -> None:
    layout = layouts / "single"
    assert proxy.call("OpenImageOptional", f"oci:{layout}:nope").value == 0
    assert _error(proxy.call_reply("OpenImage", f"oci:{layout}:nope")) == ("other", 'no descriptor found for reference "nope"')
    image = proxy.call("OpenImage", f"oci:{layout}:t1").value
    missing = f"open {layout}/blobs/sha256/{'0' * 64}: no such file or directory"
    assert _error(proxy.call_reply("GetBlob", image, ZERO_DIGEST, 4)) == ("other", missing)
    assert _error(proxy.call_reply("GetRawBlob", image, ZERO_DIGEST)) == ("other", missing)
    # dir: has no "image not found" of its own: an error, not the sentinel.
    reply = proxy.call_reply("OpenImageOptional", f"dir:{layouts / 'nothing'}")
    assert not reply.success


def test_calls_before_initialize_and_an_unusable_policy(proxy_factory: Callable[..., ProxyClient], tmp_path: Path) -> None:
    client = proxy_factory()
    assert _error(client.call_reply("GetManifest", 1)) == ("other", "client error: must invoke Initialize")
    assert _error(client.call_reply("OpenImage", "oci:/x:y")) == ("other", "client error: must invoke Initialize")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    client = proxy_factory(global_flags=("--policy", str(bad)))
    expected = f"invalid policy in \"{bad}\": unexpected end of JSON input"
    for _ in range(2):  # not initialized by a failed attempt
        assert _error(client.call_reply("Initialize"))[1] == expected
    client = proxy_factory("--username", "a")
    assert _error(client.call_reply("Initialize")) == ("other", "password must be specified when username is specified")
    client = proxy_factory(global_flags=("--tls-details", str(tmp_path / "nope.yaml")))
    assert _error(client.call_reply("Initialize")) == (
        "other", f'reading "{tmp_path}/nope.yaml": open {tmp_path}/nope.yaml: no such file or directory')


def test_the_policy_is_enforced(proxy_factory: Callable[..., ProxyClient], layouts: Path, tmp_path: Path) -> None:
    policy = tmp_path / "reject.json"
    policy.write_text('{"default":[{"type":"reject"}]}')
    client = proxy_factory(global_flags=("--policy", str(policy)))
    client.call("Initialize")
    name = f"oci:{layouts / 'single'}:t1"
    assert _error(client.call_reply("OpenImage", name)) == ("other", f"Running image {name} is rejected by policy.")
    client = proxy_factory(global_flags=("--insecure-policy",))
    client.call("Initialize")
    assert client.call("OpenImage", name).value == 1


# --- the command line ----------------------------------------------------------------
def _run_proxy(*args: str, pass_fds: tuple[int, ...] = (), stdin: int | None = subprocess.DEVNULL,
               command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(command or skopeo_command()), *args], capture_output=True, text=True, timeout=60,
                          pass_fds=pass_fds, stdin=stdin)


def test_command_line_errors(tmp_path: Path) -> None:
    from skopeo.testing.fixtures import fatal_message

    cases: list[tuple[tuple[str, ...], str]] = [
        (("experimental-image-proxy", "foo"), "accepts 0 arg(s), received 1"),
        (("experimental-image-proxy", "--sockfd", "x"),
         'invalid argument "x" for "--sockfd" flag: strconv.ParseInt: parsing "x": invalid syntax'),
        (("experimental-image-proxy", "--sockfd", "99"), "file file+net sock: fcntl: bad file descriptor"),
        (("experimental-image-proxy",), "file file+net sock: getsockopt: socket operation on non-socket"),
        (("--insecure-policy", "--require-signed", "experimental-image-proxy"),
         "--insecure-policy and --require-signed are mutually exclusive"),
    ]
    for args, message in cases:
        proc = _run_proxy(*args)
        assert proc.returncode == 1, proc
        assert fatal_message(proc.stderr) == message
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as tcp:
            proc = _run_proxy("experimental-image-proxy", "--sockfd", str(tcp.fileno()), pass_fds=(tcp.fileno(),))
    assert fatal_message(proc.stderr) == "expected unix connection, got *net.TCPConn"


def test_stdin_is_the_default_socket_and_a_stream_socket_works(policy_file: Path) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        proc = subprocess.Popen([*skopeo_command(), "--policy", str(policy_file), "experimental-image-proxy"],
                                stdin=theirs, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        theirs.close()
        ours.sendall(b'{"method":"Initialize","args":[]}')
        assert ours.recv(1000) == b'{"success":true,"value":"0.2.8","pipeid":0,"error_code":"","error":""}'
    assert proc.wait(30) == 0
    proc.communicate()


def test_help_and_hidden(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    assert "experimental-image-proxy" not in run_skopeo("--help").stdout
    out = run_skopeo("experimental-image-proxy", "--help").stdout
    assert "--sockfd int" in out and "Serve on opened socket pair (default 0/stdin)" in out


def test_command_timeout_does_not_stop_the_proxy(proxy_factory: Callable[..., ProxyClient]) -> None:
    import time

    client = proxy_factory(global_flags=("--command-timeout", "300ms"))
    client.call("Initialize")
    time.sleep(0.6)
    assert client.call_reply("Initialize").error == "already initialized"


# --- a registry ------------------------------------------------------------------------
def test_registry_images(proxy_factory: Callable[..., ProxyClient], layouts: Path, registry, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    host = registry.host
    run_skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts / 'single'}:t1", f"docker://{host}/lay:t1", check=True)
    run_skopeo("copy", "--dest-tls-verify=false", f"oci:{layouts / 'docker'}:d", f"docker://{host}/lay:v2", check=True)
    run_skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layouts / 'multi'}:m", f"docker://{host}/multi:m",
               check=True)
    client = proxy_factory("--tls-verify=false")
    client.call("Initialize")
    for name in ("lay:nope", "nope:x", f"lay@{ZERO_DIGEST}"):
        assert client.call("OpenImageOptional", f"docker://{host}/{name}").value == 0
    reply = client.call_reply("OpenImage", f"docker://{host}/lay:nope")
    assert _error(reply) == ("other", f"reading manifest nope in {host}/lay: manifest unknown")
    image = client.call("OpenImage", f"docker://{host}/lay:t1").value
    raw = _stored_manifest(layouts / "single")
    assert client.call_pipe("GetManifest", image) == (mf.manifest_digest(raw), raw)
    for layer in client.call("GetLayerInfo", image).value:
        size, data = client.call_pipe("GetBlob", image, layer["digest"], layer["size"])
        assert size == len(data) == layer["size"]
        assert data == _blob_path(layouts / "single", layer["digest"]).read_bytes()
    assert _error(client.call_reply("GetBlob", image, ZERO_DIGEST, 3)) == ("retryable", "fetching blob: blob unknown to registry")
    v2 = client.call("OpenImage", f"docker://{host}/lay:v2").value
    digest, manifest = client.call_pipe("GetManifest", v2)
    assert digest == mf.manifest_digest(_stored_manifest(layouts / "docker"))
    assert json.loads(manifest)["mediaType"] == mf.OCI_MANIFEST
    multi = client.call("OpenImage", f"docker://{host}/multi:m").value
    digest, manifest = client.call_pipe("GetManifest", multi)
    assert digest == mf.manifest_digest(manifest)
    # Connection errors are "retryable".
    reply = client.call_reply("OpenImage", "docker://127.0.0.1:1/x")
    assert reply.error_code == "retryable" and "connect: connection refused" in reply.error


# --- upstream ----------------------------------------------------------------------------
def _session(client: ProxyClient, layouts: Path) -> list[bytes]:
    """Replies to a fixed session, pipe ids (descriptor numbers) left out."""
    out: list[bytes] = []

    def record(reply: Reply) -> Reply:
        obj = json.loads(reply.raw)
        obj["pipeid"] = "P" if obj["pipeid"] else 0
        out.append(json.dumps(obj).encode() + b" fds=%d" % len(reply.fds))
        return reply

    def piped(reply: Reply) -> None:
        data, done = client.read_and_finish(reply)
        out.append(hashlib.sha256(data).hexdigest().encode())
        record(done)

    record(client.call_reply("Initialize"))
    for payload in (b"{", b'{"method":1}', b'{"method":"X"}', b'{"method":"GetBlob","args":[1,"x"]}'):
        record(client.request(payload))
    for layout, tag in (("single", "t1"), ("docker", "d"), ("multi", "m"), ("single", "nope")):
        image = record(client.call_reply("OpenImageOptional", f"oci:{layouts / layout}:{tag}")).value
        if not image:
            continue
        for method in ("GetManifest", "GetFullConfig", "GetConfig", "GetLayerInfoPiped"):
            piped(record(client.call_reply(method, image)))
        layers = record(client.call_reply("GetLayerInfo", image)).value
        for size in (layers[0]["size"], 5, -1):
            piped(record(client.call_reply("GetBlob", image, layers[0]["digest"], size)))
        record(client.call_reply("CloseImage", image))
    return out


@pytest.mark.requires("upstream-main")
def test_same_replies_as_upstream(proxy_factory: Callable[..., ProxyClient], layouts: Path) -> None:
    ours = _session(proxy_factory(), layouts)
    theirs = _session(proxy_factory(command=[UPSTREAM]), layouts)
    assert ours == theirs

