"""Layer encryption (``copy --encryption-key``, ``--encrypt-layer``,
``--decryption-key``) in ocicrypt's format, both ways with the reference
skopeo 1.9.3 (jwe, pkcs7, pgp) and, where it is built, upstream main (which
also speaks key providers); then what goes wrong: wrong keys, tampered
ciphertext and annotations, flags that do not fit."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from samples import HELLO_OCI as SAMPLE_LAYOUT
from skopeo import manifest as mf
from skopeo.testing.fixtures import fatal_message
from skopeo.testing.images import make_image, validate
from skopeo.testing.require import DEFAULT_UPSTREAM, find_upstream_main, require_tool

Runner = Callable[..., subprocess.CompletedProcess[str]]
SAMPLE = f"oci:{SAMPLE_LAYOUT}:hello"
MAIN = find_upstream_main() or DEFAULT_UPSTREAM  # upstream main, where built (never in CI)
ENC = "org.opencontainers.image.enc."
ENC_GZIP = mf.OCI_LAYER_GZIP + "+encrypted"

_PROVIDER = '''#!{python}
"""A key provider (ocicrypt's keyprovider protocol): AES-GCM with the key in argv[1]."""
import base64, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = open(sys.argv[1], "rb").read()
request = json.load(sys.stdin)
if request["op"] == "keywrap":
    opts = base64.b64decode(request["keywrapparams"]["optsdata"])
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(key).encrypt(nonce, opts, None)
    json.dump({{"keywrapresults": {{"annotation": base64.b64encode(sealed).decode()}}}}, sys.stdout)
else:
    sealed = base64.b64decode(request["keyunwrapparams"]["annotation"])
    try:
        opts = AESGCM(key).decrypt(sealed[:12], sealed[12:], None)
    except Exception:
        sys.stderr.write("wrong key")
        sys.exit(3)
    json.dump({{"keyunwrapresults": {{"optsdata": base64.b64encode(opts).decode()}}}}, sys.stdout)
'''


def _msg(stderr: str) -> str:
    """The fatal line's message, its newlines unescaped (ocicrypt's errors have some)."""
    return fatal_message(stderr).replace("\\n", "\n")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _gpg_key(home: Path, name: str, email: str, passphrase: str) -> None:
    params = ["Key-Type: RSA", "Key-Length: 2048", "Subkey-Type: RSA", "Subkey-Length: 2048", f"Name-Real: {name}",
              f"Name-Email: {email}", "Expire-Date: 0",
              f"Passphrase: {passphrase}" if passphrase else "%no-protection", "%commit", ""]
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--gen-key"], input="\n".join(params).encode(),
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RSA and EC key pairs, a password-protected key, another key, a
    certificate, a GnuPG home with two RSA keys (one with a passphrase) and
    their exported secret keys, a key provider and its configuration."""
    d = tmp_path_factory.mktemp("keys")
    _openssl("genrsa", "-out", str(d / "rsa.pem"), "2048")
    _openssl("rsa", "-in", str(d / "rsa.pem"), "-pubout", "-out", str(d / "rsa.pub"))
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(d / "ec.pem"))
    _openssl("pkey", "-in", str(d / "ec.pem"), "-pubout", "-out", str(d / "ec.pub"))
    _openssl("genrsa", "-out", str(d / "other.pem"), "2048")
    _openssl("rsa", "-in", str(d / "rsa.pem"), "-aes256", "-traditional", "-passout", "pass:secret",
             "-out", str(d / "rsa-pw.pem"))
    _openssl("req", "-x509", "-new", "-key", str(d / "rsa.pem"), "-subj", "/CN=ocicrypt test", "-days", "30",
             "-out", str(d / "cert.pem"))
    home = d / "gnupg"
    home.mkdir(mode=0o700)
    if shutil.which("gpg"):
        _gpg_key(home, "Enc Tester", "enc@example.com", "")
        _gpg_key(home, "Pw Tester", "pw@example.com", "pw")
        for email, out, pw in (("enc@example.com", "sec.gpg", ""), ("pw@example.com", "sec-pw.gpg", "pw")):
            proc = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback",
                                   "--passphrase", pw, "--export-secret-keys", email], check=True, capture_output=True)
            (d / out).write_bytes(proc.stdout)
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
    provider = d / "provider.py"
    provider.write_text(_PROVIDER.format(python=sys.executable))
    provider.chmod(0o755)
    (d / "provider.key").write_bytes(os.urandom(32))
    (d / "other.key").write_bytes(os.urandom(32))
    for name, key in (("ocicrypt.json", "provider.key"), ("other.json", "other.key")):
        (d / name).write_text(json.dumps({"key-providers": {"testkp": {"cmd": {
            "path": str(provider), "args": [str(d / key)]}}, "remote": {"grpc": "127.0.0.1:1"}}}))
    return d


@pytest.fixture
def env(keys: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment both tools run with: the test GnuPG home and key providers."""
    values = {"GNUPGHOME": str(keys / "gnupg"), "OCICRYPT_KEYPROVIDER_CONFIG": str(keys / "ocicrypt.json")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _reference(binary: str, policy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "--policy", str(policy), *args], capture_output=True, text=True, timeout=300,
                          check=False)


def _manifest(layout: Path, tag: str = "x") -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_bytes())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    return json.loads((layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes())


def _sample() -> dict[str, Any]:
    return _manifest(SAMPLE_LAYOUT, "hello")


def _assert_encrypted(layout: Path, scheme: str, plain: dict[str, Any], which: list[int] | None = None) -> None:
    m = _manifest(layout)
    assert m["config"] == plain["config"]  # the config (its diffIDs) is not touched
    for i, (lay, orig) in enumerate(zip(m["layers"], plain["layers"], strict=True)):
        if which is not None and i not in which:
            assert lay == orig
            continue
        assert lay["mediaType"] == orig["mediaType"] + "+encrypted"
        assert sorted(lay["annotations"]) == [f"{ENC}keys.{scheme}", f"{ENC}pubopts"]
        pub = json.loads(base64.b64decode(lay["annotations"][f"{ENC}pubopts"]))
        assert pub["cipher"] == "AES_256_CTR_HMAC_SHA256" and len(base64.b64decode(pub["hmac"])) == 32
        data = (layout / "blobs" / "sha256" / lay["digest"].split(":")[1]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == lay["digest"].split(":")[1]
        assert lay["digest"] != orig["digest"] and len(data) == orig["size"]  # CTR: same length


def _assert_decrypted(layout: Path, plain: dict[str, Any]) -> None:
    """Back to the original image: same layer digests, same config (diffIDs), all verified."""
    m = _manifest(layout)
    assert m["config"] == plain["config"]
    assert [(lay["mediaType"], lay["digest"], lay["size"]) for lay in m["layers"]] == [
        (lay["mediaType"], lay["digest"], lay["size"]) for lay in plain["layers"]]
    assert all(not any(k.startswith(ENC) for k in lay.get("annotations", {})) for lay in m["layers"])
    assert validate(f"oci:{layout}:x")


KEY_KINDS = {
    "jwe": (lambda k: [f"jwe:{k / 'rsa.pub'}"], lambda k: [str(k / "rsa.pem")]),
    "jwe-ec": (lambda k: [f"jwe:{k / 'ec.pub'}"], lambda k: [str(k / "ec.pem")]),
    "pkcs7": (lambda k: [f"pkcs7:{k / 'cert.pem'}"], lambda k: [str(k / "rsa.pem"), str(k / "cert.pem")]),
    "pgp": (lambda k: ["pgp:enc@example.com"], lambda k: [str(k / "sec.gpg")]),
}


def _flags(flag: str, values: list[str]) -> list[str]:
    return [a for v in values for a in (flag, v)]


@pytest.mark.oracle
@pytest.mark.parametrize("kind", list(KEY_KINDS))
def test_ours_encrypts_the_reference_decrypts(kind: str, keys: Path, env: dict[str, str], tmp_path: Path,
                                              run_skopeo: Runner, oracle: Runner, policy_file: Path) -> None:
    if kind == "pgp":
        require_tool("gpg")
    enc_keys, dec_keys = KEY_KINDS[kind]
    run_skopeo("copy", "-q", *_flags("--encryption-key", enc_keys(keys)), SAMPLE, f"oci:{tmp_path / 'enc'}:x",
               check=True)
    _assert_encrypted(tmp_path / "enc", kind.split("-")[0], _sample())
    oracle("copy", "-q", *_flags("--decryption-key", dec_keys(keys)), f"oci:{tmp_path / 'enc'}:x",
           f"oci:{tmp_path / 'dec'}:x", check=True)
    _assert_decrypted(tmp_path / "dec", _sample())
    if os.path.exists(MAIN):
        proc = _reference(MAIN, policy_file, "copy", "-q", *_flags("--decryption-key", dec_keys(keys)),
                          f"oci:{tmp_path / 'enc'}:x", f"oci:{tmp_path / 'main'}:x")
        assert proc.returncode == 0, proc.stderr
        _assert_decrypted(tmp_path / "main", _sample())


@pytest.mark.oracle
@pytest.mark.parametrize("kind", list(KEY_KINDS))
def test_the_reference_encrypts_ours_decrypts(kind: str, keys: Path, env: dict[str, str], tmp_path: Path,
                                              run_skopeo: Runner, oracle: Runner) -> None:
    if kind == "pgp":
        require_tool("gpg")
    enc_keys, dec_keys = KEY_KINDS[kind]
    oracle("copy", "-q", *_flags("--encryption-key", enc_keys(keys)), SAMPLE, f"oci:{tmp_path / 'enc'}:x",
           check=True)
    _assert_encrypted(tmp_path / "enc", kind.split("-")[0], _sample())
    run_skopeo("copy", "-q", *_flags("--decryption-key", dec_keys(keys)), f"oci:{tmp_path / 'enc'}:x",
               f"oci:{tmp_path / 'dec'}:x", check=True)
    _assert_decrypted(tmp_path / "dec", _sample())


def test_several_recipients_each_can_decrypt(keys: Path, env: dict[str, str], tmp_path: Path,
                                             run_skopeo: Runner) -> None:
    recipients = [f"jwe:{keys / 'rsa.pub'}", f"jwe:{keys / 'ec.pub'}", f"pkcs7:{keys / 'cert.pem'}",
                  "provider:testkp"]
    run_skopeo("copy", "-q", *_flags("--encryption-key", recipients), SAMPLE, f"oci:{tmp_path / 'enc'}:x", check=True)
    [layer] = _manifest(tmp_path / "enc")["layers"]
    assert sorted(layer["annotations"]) == [f"{ENC}keys.jwe", f"{ENC}keys.pkcs7", f"{ENC}keys.provider.testkp",
                                            f"{ENC}pubopts"]
    for i, dec in enumerate([[str(keys / "rsa.pem")], [str(keys / "ec.pem")],
                             [str(keys / "rsa.pem"), str(keys / "cert.pem")], ["provider:testkp"]]):
        run_skopeo("copy", "-q", *_flags("--decryption-key", dec), f"oci:{tmp_path / 'enc'}:x",
                   f"oci:{tmp_path / f'dec{i}'}:x", check=True)
        _assert_decrypted(tmp_path / f"dec{i}", _sample())


def test_key_provider_round_trip(keys: Path, env: dict[str, str], tmp_path: Path, run_skopeo: Runner,
                                 policy_file: Path) -> None:
    run_skopeo("copy", "-q", "--encryption-key", "provider:testkp", SAMPLE, f"oci:{tmp_path / 'enc'}:x", check=True)
    _assert_encrypted(tmp_path / "enc", "provider.testkp", _sample())
    run_skopeo("copy", "-q", "--decryption-key", "provider:testkp", f"oci:{tmp_path / 'enc'}:x",
               f"oci:{tmp_path / 'dec'}:x", check=True)
    _assert_decrypted(tmp_path / "dec", _sample())
    if os.path.exists(MAIN):  # 1.9.3 has no key providers; upstream main does
        proc = _reference(MAIN, policy_file, "copy", "-q", "--decryption-key", "provider:testkp",
                          f"oci:{tmp_path / 'enc'}:x", f"oci:{tmp_path / 'main'}:x")
        assert proc.returncode == 0, proc.stderr
        _assert_decrypted(tmp_path / "main", _sample())
        proc = _reference(MAIN, policy_file, "copy", "-q", "--encryption-key", "provider:testkp", SAMPLE,
                          f"oci:{tmp_path / 'main-enc'}:x")
        assert proc.returncode == 0, proc.stderr
        run_skopeo("copy", "-q", "--decryption-key", "provider:testkp", f"oci:{tmp_path / 'main-enc'}:x",
                   f"oci:{tmp_path / 'dec2'}:x", check=True)
        _assert_decrypted(tmp_path / "dec2", _sample())


@pytest.mark.requires("gpg")
def test_pgp_key_with_passphrase(keys: Path, env: dict[str, str], tmp_path: Path, run_skopeo: Runner) -> None:
    run_skopeo("copy", "-q", "--encryption-key", "pgp:Pw Tester", SAMPLE, f"oci:{tmp_path / 'enc'}:x", check=True)
    proc = run_skopeo("copy", "--decryption-key", f"{keys / 'sec-pw.gpg'}:wrong", f"oci:{tmp_path / 'enc'}:x",
                      f"oci:{tmp_path / 'bad'}:x")
    assert proc.returncode == 1
    assert _msg(proc.stderr).endswith("no suitable key found for decrypting layer key:\n"
                                               "- PGP: No suitable key found to unwrap key\n\n")
    run_skopeo("copy", "-q", "--decryption-key", f"{keys / 'sec-pw.gpg'}:pw", f"oci:{tmp_path / 'enc'}:x",
               f"oci:{tmp_path / 'dec'}:x", check=True)
    _assert_decrypted(tmp_path / "dec", _sample())


@pytest.mark.parametrize(("layers", "which"), [(["0"], [0]), (["-1"], [2]), (["0,-1"], [0, 2]), ([], [0, 1, 2])])
def test_encrypt_layer_chooses_layers(layers: list[str], which: list[int], keys: Path, tmp_path: Path,
                                      run_skopeo: Runner) -> None:
    make_image(str(tmp_path / "src"), "t", seed=3, layers=3)
    plain = _manifest(tmp_path / "src", "t")
    run_skopeo("copy", "-q", "--encryption-key", f"jwe:{keys / 'rsa.pub'}", *_flags("--encrypt-layer", layers),
               f"oci:{tmp_path / 'src'}:t", f"oci:{tmp_path / 'enc'}:x", check=True)
    _assert_encrypted(tmp_path / "enc", "jwe", plain, which)
    run_skopeo("copy", "-q", "--decryption-key", str(keys / "rsa.pem"), f"oci:{tmp_path / 'enc'}:x",
               f"oci:{tmp_path / 'dec'}:x", check=True)
    _assert_decrypted(tmp_path / "dec", plain)


def test_uncompressed_layers_are_compressed_then_encrypted(keys: Path, tmp_path: Path, run_skopeo: Runner) -> None:
    make_image(str(tmp_path / "src"), "t", seed=4, layers=1, compress=False)
    run_skopeo("copy", "-q", "--encryption-key", f"jwe:{keys / 'rsa.pub'}", f"oci:{tmp_path / 'src'}:t",
               f"oci:{tmp_path / 'enc'}:x", check=True)
    [layer] = _manifest(tmp_path / "enc")["layers"]
    assert layer["mediaType"] == ENC_GZIP  # compression first, then encryption
    run_skopeo("copy", "-q", "--decryption-key", str(keys / "rsa.pem"), f"oci:{tmp_path / 'enc'}:x",
               f"oci:{tmp_path / 'dec'}:x", check=True)
    assert [lay["mediaType"] for lay in _manifest(tmp_path / "dec")["layers"]] == [mf.OCI_LAYER_GZIP]
    assert validate(f"oci:{tmp_path / 'dec'}:x")


@pytest.mark.oracle
@pytest.mark.slow
def test_through_a_registry(keys: Path, tmp_path: Path, registry, run_skopeo: Runner, oracle: Runner) -> None:  # type: ignore[no-untyped-def]
    """Docker sources are converted to OCI to carry the encrypted layers; the
    reference decrypts what we pushed."""
    make_image(str(tmp_path / "src"), "t", seed=5, layers=2, docker=True)
    plain = _manifest(tmp_path / "src", "t")
    run_skopeo("copy", "-q", "--dest-tls-verify=false", "--encryption-key", f"jwe:{keys / 'rsa.pub'}",
               f"oci:{tmp_path / 'src'}:t", f"docker://{registry.host}/enc:x", check=True)
    raw = run_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/enc:x", check=True).stdout
    m = json.loads(raw)
    assert m["mediaType"] == mf.OCI_MANIFEST and [lay["mediaType"] for lay in m["layers"]] == [ENC_GZIP] * 2
    oracle("copy", "-q", "--src-tls-verify=false", "--decryption-key", str(keys / "rsa.pem"),
           f"docker://{registry.host}/enc:x", f"oci:{tmp_path / 'dec'}:x", check=True)
    dec = _manifest(tmp_path / "dec")
    assert [(lay["digest"], lay["size"]) for lay in dec["layers"]] == [(lay["digest"], lay["size"]) for lay in plain["layers"]]
    assert validate(f"oci:{tmp_path / 'dec'}:x")


# --- what goes wrong --------------------------------------------------------------------

def _tampered(src: Path, dst: Path, how: str) -> None:
    """A copy of the encrypted layout *src* with its first layer's ciphertext,
    or an annotation, changed, and the manifest rewritten to match (as someone
    able to write the registry would)."""
    shutil.copytree(src, dst)
    index = json.loads((dst / "index.json").read_bytes())
    entry = index["manifests"][0]
    blobs = dst / "blobs" / "sha256"
    m = json.loads((blobs / entry["digest"].split(":")[1]).read_bytes())
    layer = m["layers"][0]
    if how == "ciphertext":
        data = bytearray((blobs / layer["digest"].split(":")[1]).read_bytes())
        data[len(data) // 2] ^= 1
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(bytes(data))
        layer["digest"] = f"sha256:{digest}"
    elif how == "hmac":
        pub = json.loads(base64.b64decode(layer["annotations"][f"{ENC}pubopts"]))
        mac = bytearray(base64.b64decode(pub["hmac"]))
        mac[0] ^= 1
        pub["hmac"] = base64.b64encode(bytes(mac)).decode()
        layer["annotations"][f"{ENC}pubopts"] = base64.b64encode(json.dumps(pub).encode()).decode()
    elif how == "keys-base64":
        layer["annotations"][f"{ENC}keys.jwe"] = "not*base64"
    elif how == "keys-jwe":
        layer["annotations"][f"{ENC}keys.jwe"] = base64.b64encode(b'{"protected":"e30"}').decode()
    elif how == "cipher":
        pub = json.loads(base64.b64decode(layer["annotations"][f"{ENC}pubopts"]))
        pub["cipher"] = "AES_128_CBC"
        layer["annotations"][f"{ENC}pubopts"] = base64.b64encode(json.dumps(pub).encode()).decode()
    raw = json.dumps(m).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (blobs / digest).write_bytes(raw)
    entry.update(digest=f"sha256:{digest}", size=len(raw))
    (dst / "index.json").write_text(json.dumps(index))


@pytest.fixture
def encrypted(keys: Path, tmp_path: Path, run_skopeo: Runner) -> Path:
    run_skopeo("copy", "-q", "--encryption-key", f"jwe:{keys / 'rsa.pub'}", SAMPLE, f"oci:{tmp_path / 'enc'}:x",
               check=True)
    return tmp_path / "enc"


def _hmac_error(text: str) -> bool:
    return text.startswith("writing blob: happened during read: could not properly decrypt byte stream; exp hmac: '")


@pytest.mark.parametrize(("how", "check"), [
    ("ciphertext", _hmac_error),
    ("hmac", _hmac_error),
    ("keys-base64", lambda t: t.endswith(": no suitable key unwrapper found or none of the private keys could be used "
                                         "for decryption:\ncould not base64 decode the annotation\n")),
    ("keys-jwe", lambda t: t.endswith(": no suitable key unwrapper found or none of the private keys could be used for "
                                      "decryption:\nno suitable key found for decrypting layer key:\n"
                                      "- jose.ParseEncrypted failed\n\n")),
    ("cipher", lambda t: t.endswith(": unsupported cipher type: AES_128_CBC")),
])
def test_tampered_layers_fail_and_leave_nothing(how: str, check: Callable[[str], bool], encrypted: Path, keys: Path,
                                                tmp_path: Path, run_skopeo: Runner, registry) -> None:  # type: ignore[no-untyped-def]
    _tampered(encrypted, tmp_path / "bad", how)
    for dest in (f"oci:{tmp_path / 'out'}:x", f"dir:{tmp_path / 'dir'}", f"docker://{registry.host}/t:x"):
        proc = run_skopeo("copy", "--dest-tls-verify=false", "--decryption-key", str(keys / "rsa.pem"),
                          f"oci:{tmp_path / 'bad'}:x", dest)
        assert proc.returncode == 1
        assert check(_msg(proc.stderr)), proc.stderr
    assert not (tmp_path / "out" / "index.json").exists()
    assert not (tmp_path / "dir" / "manifest.json").exists()
    proc = run_skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/t:x")
    assert proc.returncode != 0


BAD_INPUT = [
    # (flags, source, message); the key files are relative to the keys directory.
    (["--encryption-key", "jwe"], SAMPLE, "Invalid encryption keys: Invalid recipient format"),
    (["--encryption-key", "foo:bar"], SAMPLE, "Invalid encryption keys: Provided protocol not recognized"),
    (["--encryption-key", "jwe:/nonexistent"], SAMPLE,
     "Invalid encryption keys: Unable to read file: open /nonexistent: no such file or directory"),
    (["--encryption-key", "jwe:{k}/cert.pem"], SAMPLE, "Invalid encryption keys: File provided is not a public key"),
    (["--encryption-key", "pkcs7:{k}/rsa.pub"], SAMPLE, "Invalid encryption keys: File provided is not an x509 cert"),
    (["--encryption-key", "pgp:nobody@example.com"], SAMPLE,
     "Unable to finalize encryption: unable to create entity list: PGP: No key found for the following recipients: "
     "nobody@example.com"),
    (["--encryption-key", "provider:unknown"], SAMPLE,
     "Unable to finalize encryption: no wrapped keys produced by encryption"),
    (["--encryption-key", "provider:remote"], SAMPLE,
     'Unable to finalize encryption: error while retrieving keyprovider protocol command output: key provider '
     '"remote" uses grpc, which is not supported; use a "cmd" key provider'),
    (["--decryption-key", "/nonexistent"], "enc", "Invalid decryption keys: open /nonexistent: no such file or directory"),
    (["--decryption-key", "{k}/rsa-pw.pem"], "enc", "Invalid decryption keys: : Missing password for encrypted private key"),
    (["--decryption-key", "{k}/rsa-pw.pem:wrong"], "enc",
     "Invalid decryption keys: : Wrong password: could not decrypt private key"),
    (["--decryption-key", "{k}/other.pem"], "enc",
     "decrypting layer {d}: no suitable key unwrapper found or none of the private keys could be used for "
     "decryption:\nno suitable key found for decrypting layer key:\n- JWE: No suitable private key found for decryption\n\n"),
    (["--decryption-key", "{k}/cert.pem"], "enc", "decrypting layer {d}: missing private key needed for decryption:\n"),
    (["--decryption-key", "provider:testkp"], "enc", "decrypting layer {d}: missing private key needed for decryption:\n"),
    (["--encrypt-layer", "0"], SAMPLE, "--encrypt-layer can only be used with --encryption-key"),
    (["--encrypt-layer", "x"], SAMPLE,
     'invalid argument "x" for "--encrypt-layer" flag: strconv.Atoi: parsing "x": invalid syntax'),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--decryption-key", "{k}/rsa.pem"], SAMPLE,
     "--encryption-key and --decryption-key cannot be specified together"),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--encrypt-layer", "1"], SAMPLE,
     "when choosing layers to encrypt, layer index 1 out of range (1 layers exist)"),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--encrypt-layer=-2"], SAMPLE,
     "when choosing layers to encrypt, layer index -2 out of range (1 layers exist)"),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--preserve-digests"], SAMPLE,
     "layer {s} should be encrypted, but we can’t modify the manifest: Instructed to preserve digests"),
    (["--decryption-key", "{k}/rsa.pem", "--preserve-digests"], "enc",
     "layer {d} should be decrypted, but we can’t modify the manifest: Instructed to preserve digests"),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--dest-compress-format", "zstd:chunked", "--dest-force-compress-format"],
     SAMPLE, "explicitly requested to combine zstd:chunked with encryption, which is not beneficial; use plain zstd instead"),
    (["--encryption-key", "jwe:{k}/rsa.pub", "--format", "v2s2"], SAMPLE,
     f"encryption required together with format {mf.DOCKER_V2S2}, which does not support encryption"),
    (["--format", "v2s2"], "enc",
     f"encryption required together with format {mf.DOCKER_V2S2}, which does not support encryption"),
]


@pytest.mark.parametrize(("flags", "source", "message"), BAD_INPUT)
def test_bad_input(flags: list[str], source: str, message: str, keys: Path, env: dict[str, str], encrypted: Path,
                   tmp_path: Path, run_skopeo: Runner, policy_file: Path) -> None:
    flags = [f.format(k=keys) for f in flags]
    src = f"oci:{encrypted}:x" if source == "enc" else source
    enc_digest = _manifest(encrypted)["layers"][0]["digest"]
    message = message.format(d=enc_digest, s=_sample()["layers"][0]["digest"])
    proc = run_skopeo("copy", *flags, src, f"oci:{tmp_path / 'out'}:x")
    assert proc.returncode == 1
    assert _msg(proc.stderr) == message
    assert not (tmp_path / "out" / "index.json").exists()
    if os.path.exists(MAIN) and "remote" not in " ".join(flags):  # upstream main's words, where built
        main = _reference(MAIN, policy_file, "copy", *flags, src, f"oci:{tmp_path / 'main'}:x")
        assert _msg(main.stderr) == message


def test_encrypted_layers_cannot_go_to_docker_archive(encrypted: Path, keys: Path, tmp_path: Path,
                                                      run_skopeo: Runner) -> None:
    for flags, src in (([], f"oci:{encrypted}:x"), (["--encryption-key", f"jwe:{keys / 'rsa.pub'}"], SAMPLE)):
        proc = run_skopeo("copy", *flags, src, f"docker-archive:{tmp_path / 'out.tar'}")
        assert proc.returncode == 1
        assert _msg(proc.stderr) == (
            f"encryption required but the destination only supports MIME types [{mf.DOCKER_V2S2}], none of which "
            "support encryption")
        assert not (tmp_path / "out.tar").exists()
    # Decrypted, they can.
    run_skopeo("copy", "-q", "--decryption-key", str(keys / "rsa.pem"), f"oci:{encrypted}:x",
               f"docker-archive:{tmp_path / 'out.tar'}", check=True)


@pytest.mark.oracle
def test_docker_image_to_dir_becomes_oci(keys: Path, tmp_path: Path, run_skopeo: Runner, oracle: Runner) -> None:
    """dir: takes any manifest type, but encrypted layers need OCI: a schema2
    image is converted (as upstream main does; 1.9.3 fails here with "no
    candidate MIME types"), and the reference decrypts it."""
    make_image(str(tmp_path / "src"), "t", seed=6, layers=2, docker=True)
    run_skopeo("copy", "-q", f"oci:{tmp_path / 'src'}:t", f"dir:{tmp_path / 'plain'}", check=True)
    run_skopeo("copy", "-q", "--encryption-key", f"jwe:{keys / 'rsa.pub'}", f"dir:{tmp_path / 'plain'}",
               f"dir:{tmp_path / 'enc'}", check=True)
    m = json.loads((tmp_path / "enc" / "manifest.json").read_bytes())
    assert m["mediaType"] == mf.OCI_MANIFEST and m["config"]["mediaType"] == mf.OCI_CONFIG
    assert [lay["mediaType"] for lay in m["layers"]] == [ENC_GZIP] * 2
    oracle("copy", "-q", "--decryption-key", str(keys / "rsa.pem"), f"dir:{tmp_path / 'enc'}", f"oci:{tmp_path / 'dec'}:x",
           check=True)
    plain = json.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    dec = _manifest(tmp_path / "dec")
    assert [(lay["digest"], lay["size"]) for lay in dec["layers"]] == [(lay["digest"], lay["size"]) for lay in plain["layers"]]
    assert validate(f"oci:{tmp_path / 'dec'}:x")
