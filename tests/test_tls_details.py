"""``--tls-details``: the file as upstream decodes it (messages recorded from
upstream main), and its settings applied to real TLS connections: the test
registry, and ``openssl s_server`` limited to what the registry cannot be
(TLS 1.2 only, one cipher, one group)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skopeo import tlsdetails
from skopeo.errors import SkopeoError
from skopeo.testing import tlsserver
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.require import skip_or_fail
from skopeo.testing.tlsserver import TLSServer


@pytest.mark.parametrize(("text", "error"), [
    ("", 'parsing "F": EOF'),
    ("# only a comment\n", 'parsing "F": EOF'),
    ("---\n", None),
    ("null\n", None),
    ('minVersion: "1.3"\n---\nfoo: 1\n', None),  # the first document only
    ("minVersion: 1.3\n", None),
    ("minVersion: 1.4\n", 'parsing TLS details "F": unrecognized TLS minimum version "1.4"'),
    ("minVersion: |\n  1.3\n", 'parsing TLS details "F": unrecognized TLS minimum version "1.3\\n"'),
    ("minVersion: !!binary aGVsbG8=\n", 'parsing TLS details "F": unrecognized TLS minimum version "hello"'),
    ("minVersion: [1]\n", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into string'),
    ("foo: 1\n", 'parsing "F": yaml: unmarshal errors:\n  line 1: field foo not found in type basetls.TLSDetailsFile'),
    ("MinVersion: 1.2\n",
     'parsing "F": yaml: unmarshal errors:\n  line 1: field MinVersion not found in type basetls.TLSDetailsFile'),
    ("foo: 1\nminVersion: [1]\n", 'parsing "F": yaml: unmarshal errors:\n  line 1: field foo not found in type '
                                  "basetls.TLSDetailsFile\n  line 2: cannot unmarshal !!seq into string"),
    ('minVersion: "1.3"\nminVersion: "1.2"\nfoo: 2\n',
     'parsing "F": yaml: unmarshal errors:\n  line 2: mapping key "minVersion" already defined at line 1'),
    ("cipherSuites: TLS_AES_128_GCM_SHA256\n",
     'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `TLS_AES...` into []string'),
    ("cipherSuites: 12345678901\n",
     'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `1234567...` into []string'),
    ("cipherSuites: {a: 1}\n", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!map into []string'),
    ("cipherSuites: [FOO]\n", 'parsing TLS details "F": unrecognized TLS cipher suite "FOO"'),
    ('cipherSuites: [~, ""]\n', 'parsing TLS details "F": unrecognized TLS cipher suite ""'),
    ("cipherSuites: [TLS_RSA_WITH_RC4_128_SHA]\n", None),
    ("cipherSuites: []\n", None),
    ("namedGroups: [x25519, X25519]\n", 'parsing TLS details "F": unrecognized TLS named group "X25519"'),
    ("cipherSuites: &a [TLS_AES_128_GCM_SHA256]\nnamedGroups: *a\n",
     'parsing TLS details "F": unrecognized TLS named group "TLS_AES_128_GCM_SHA256"'),
    ("3", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `3` into basetls.TLSDetailsFile'),
    ("yes", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `yes` into basetls.TLSDetailsFile'),
    ("2001-12-14", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!timestamp `2001-12-14` into '
                   "basetls.TLSDetailsFile"),
    ("!!str 3", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `3` into basetls.TLSDetailsFile'),
    ("[1,2]", 'parsing "F": yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into basetls.TLSDetailsFile'),
    ("x: [\n\n", 'parsing "F": yaml: line 2: did not find expected node content'),
    ("a: b: c\n", 'parsing "F": yaml: mapping values are not allowed in this context'),
    ("\n\na: b: c\n", 'parsing "F": yaml: line 3: mapping values are not allowed in this context'),
    ("a:\n  - b\n c: d\n", 'parsing "F": yaml: line 2: did not find expected key'),
    ("\t\n", 'parsing "F": yaml: found character that cannot start any token'),
    ("&a a: *b\n", "parsing \"F\": yaml: unknown anchor 'b' referenced"),
    ("\xff\n", 'parsing "F": yaml: invalid leading UTF-8 octet'),
])
def test_files_are_read_as_upstream(tmp_path: Path, text: str, error: str | None) -> None:
    path = tmp_path / "F"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    if error is None:
        tlsdetails.load(str(path))
        return
    with pytest.raises(SkopeoError) as info:
        tlsdetails.load(str(path))
    assert info.value.message == error.replace('"F"', f'"{path}"')


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert tlsdetails.load("") is None
    with pytest.raises(SkopeoError, match=f'^reading "{tmp_path}/nope": open {tmp_path}/nope: no such file or directory$'):
        tlsdetails.load(str(tmp_path / "nope"))
    with pytest.raises(SkopeoError, match=f'^reading "{tmp_path}": read {tmp_path}: is a directory$'):
        tlsdetails.load(str(tmp_path))
    path = tmp_path / "ok.yaml"
    path.write_text("minVersion: '1.2'\ncipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\nnamedGroups: [x25519]\n")
    assert tlsdetails.load(str(path)) == tlsdetails.TLSDetails(
        "1.2", ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",), ("x25519",))


def test_apply_to_an_ssl_context() -> None:
    ctx = ssl.create_default_context()
    tlsdetails.apply(ctx, tlsdetails.TLSDetails("1.3", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
                                                ("secp384r1", "x25519")))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    tls12 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 == ["ECDHE-RSA-AES128-GCM-SHA256"]
    only13 = ssl.create_default_context()
    tlsdetails.apply(only13, tlsdetails.TLSDetails(cipher_suites=()))  # no TLS 1.2 suite: TLS 1.3 only
    assert only13.minimum_version == ssl.TLSVersion.TLSv1_3


# --- real connections -----------------------------------------------------------------
@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[..., TLSServer]]:
    if not tlsserver.available():
        skip_or_fail("openssl", "openssl is not installed (Debian package openssl)")
    servers: list[TLSServer] = []

    def start(*args: str, rsa: bool = False) -> TLSServer:
        server = tlsserver.start_tls_server(tmp_path / f"server{len(servers)}", *args, rsa=rsa)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _inspect(run_skopeo, tmp_path: Path, server: TLSServer, details: str | None):  # type: ignore[no-untyped-def]
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    (certs / "ca.crt").write_bytes(server.ca.cert.read_bytes())
    flags = []
    if details is not None:
        (tmp_path / "details.yaml").write_text(details)
        flags = ["--tls-details", str(tmp_path / "details.yaml")]
    return run_skopeo(*flags, "inspect", "--cert-dir", str(certs), f"docker://{server.host}/x:y")


# s_server -www answers an HTML page: reaching "parsing manifest" means TLS worked.
CONNECTED = "Error parsing manifest for image: invalid character '<' looking for beginning of value"


@pytest.mark.parametrize(("server_args", "details", "failure"), [
    (("-tls1_2",), 'minVersion: "1.2"\n', None),
    (("-tls1_2",), 'minVersion: "1.3"\n', "protocol version not supported"),
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"), None, "handshake failure"),  # not in the defaults
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"), "cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA]\n", None),
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"), "cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n",
     "handshake failure"),
    (("-groups", "P-384"), "namedGroups: [secp256r1]\n", "handshake failure"),
    (("-groups", "P-384"), "namedGroups: [secp256r1, secp384r1]\n", None),
    (("-groups", "P-384"), "namedGroups: [x25519, secp521r1]\n", "handshake failure"),
    (("-groups", "P-384"), "namedGroups: [X25519MLKEM768, secp384r1]\n", None),
    (("-groups", "X25519"), "namedGroups: [x25519]\n", None),
])
def test_settings_on_real_connections(tmp_path: Path, run_skopeo, tls_server, server_args: tuple[str, ...],  # type: ignore[no-untyped-def]
                                      details: str | None, failure: str | None) -> None:
    server = tls_server(*server_args)
    proc = _inspect(run_skopeo, tmp_path, server, details)
    assert proc.returncode == 1
    if failure is None:
        assert fatal_message(proc.stderr) == CONNECTED
    else:
        assert fatal_message(proc.stderr) == (
            f'Error parsing image name "docker://{server.host}/x:y": pinging container registry {server.host}: '
            f'Get "https://{server.host}/v2/": remote error: tls: {failure}')


def test_the_test_registry_with_details(tmp_path: Path, sample_layout: Path, tls_registry, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(tls_registry.ca.cert.read_bytes())
    details = tmp_path / "details.yaml"
    details.write_text('minVersion: "1.3"\nnamedGroups: [secp384r1, x25519]\n')
    dest = f"docker://{tls_registry.host}/hello:1"
    run_skopeo("--tls-details", str(details), "copy", "--dest-cert-dir", str(certs), f"oci:{sample_layout}:hello", dest,
               check=True)
    out = run_skopeo("--tls-details", str(details), "inspect", "--cert-dir", str(certs), dest, check=True)
    assert '"Architecture": "amd64"' in out.stdout


@pytest.mark.parametrize(("args", "prefix"), [
    (("inspect", "oci:/nonexistent:x"), ""),
    (("copy", "oci:/nonexistent:x", "dir:/nonexistent-y"), ""),  # --policy given: read for the source, after parsing the names
    (("list-tags", "docker://localhost:1/x"), ""),
    (("layers", "oci:/nonexistent:x"), ""),
])
def test_a_bad_file_stops_commands(tmp_path: Path, run_skopeo, args: tuple[str, ...], prefix: str) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("--tls-details", str(tmp_path / "nope"), *args)
    assert proc.returncode == 1
    assert fatal_message(proc.stderr) == f'{prefix}reading "{tmp_path}/nope": open {tmp_path}/nope: no such file or directory'


def test_without_policy_the_default_policy_lookup_reports_it(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("--tls-details", str(tmp_path / "nope"), "copy", "oci:/nonexistent:x", "dir:/nonexistent/y",
                      policy=False)
    assert fatal_message(proc.stderr) == \
        f'Error loading trust policy: reading "{tmp_path}/nope": open {tmp_path}/nope: no such file or directory'


def test_help_lists_it(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    assert "      --tls-details string         path to a containers-tls-details.yaml(5) file\n" in \
        run_skopeo("--help").stdout
