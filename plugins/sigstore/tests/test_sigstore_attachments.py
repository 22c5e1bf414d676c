"""Sigstore signatures stored as registry attachments (``sha256-<hex>.sig``
tags, registries.d ``use-sigstore-attachments``), against a real registry.

Debian's skopeo 1.9.3 has sigstore disabled and there is no cosign binary, so
the layout is checked against what containers/image and cosign write: an OCI
manifest whose layers are the payloads (``application/vnd.dev.cosign.
simplesigning.v1+json``, annotation ``dev.cosignproject.cosign/signature``),
an OCI config listing them as ``rootfs.diff_ids``; and the signature is
verified here with ``cryptography`` alone, as cosign verifies it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from skopeo import signature
from skopeo.testing.images import make_multiarch

pytestmark = pytest.mark.slow

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIG_MIME = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


def _msg(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    m = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', proc.stderr)
    assert m, proc.stderr
    return m.group(1).replace('\\"', '"')


class Env:
    """Keys, registries.d directories and helpers for one registry."""

    def __init__(self, run_skopeo: Any, registry: Any, tmp_path: Path) -> None:
        self.run = run_skopeo
        self.registry = registry
        self.tmp = tmp_path
        self.passfile = tmp_path / "pass"
        self.passfile.write_text("s3cret\n")
        for name in ("key", "other"):
            run_skopeo("generate-sigstore-key", "--output-prefix", str(tmp_path / name), "--passphrase-file",
                       str(self.passfile), check=True)
        self.private, self.public = tmp_path / "key.private", tmp_path / "key.pub"
        self.other_public = tmp_path / "other.pub"
        self.lookaside = tmp_path / "lookaside"
        self.regd = tmp_path / "registries.d"
        self.regd.mkdir()
        (self.regd / "reg.yaml").write_text(
            f"docker:\n  {registry.host}:\n    lookaside: file://{self.lookaside}\n    use-sigstore-attachments: true\n")
        self.regd_off = tmp_path / "registries-off.d"
        self.regd_off.mkdir()
        (self.regd_off / "reg.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: file://{self.lookaside}\n")
        self.http = httpx.Client(base_url=registry.url)

    def skopeo(self, *args: str, regd: Path | None = None, policy: Path | None = None) -> subprocess.CompletedProcess[str]:
        pre = ["--registries.d", str(regd or self.regd)]
        if policy is not None:
            pre += ["--policy", str(policy)]
        proc: subprocess.CompletedProcess[str] = self.run(*pre, *args, policy=policy is None)
        return proc

    def sign_push(self, src: str, image: str, *extra: str) -> None:
        p = self.skopeo("copy", "-q", "--dest-tls-verify=false", "--sign-by-sigstore-private-key", str(self.private),
                        "--sign-passphrase-file", str(self.passfile), *extra, src, f"docker://{self.registry.host}/{image}")
        assert p.returncode == 0, p.stderr

    def policy(self, name: str, key: Path, identity: dict[str, str] | None = None) -> Path:
        req: dict[str, Any] = {"type": "sigstoreSigned", "keyPath": str(key)}
        if identity is not None:
            req["signedIdentity"] = identity
        path = self.tmp / name
        path.write_text(json.dumps({"default": [{"type": "reject"}],
                                    "transports": {"docker": {self.registry.host: [req]}, "dir": {"": [{"type": "insecureAcceptAnything"}]}}}))
        return path

    def pull(self, image: str, out: str, policy: Path, regd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{self.registry.host}/{image}",
                           f"dir:{self.tmp / out}", regd=regd, policy=policy)

    def manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        r = self.http.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
        r.raise_for_status()
        return r.content, r.headers["Content-Type"], r.headers["Docker-Content-Digest"]

    def blob(self, repo: str, digest: str) -> bytes:
        r = self.http.get(f"/v2/{repo}/blobs/{digest}", follow_redirects=True)
        r.raise_for_status()
        assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
        return r.content

    def attachment(self, repo: str, digest: str) -> dict[str, Any]:
        data, ctype, _ = self.manifest(repo, digest.replace(":", "-") + ".sig")
        assert ctype == OCI_MANIFEST
        obj: dict[str, Any] = json.loads(data)
        return obj


@pytest.fixture
def env(run_skopeo: Any, registry: Any, tmp_path: Path) -> Env:
    return Env(run_skopeo, registry, tmp_path)


def _cosign_verify(public_pem: bytes, payload: bytes, b64sig: str) -> None:
    """What ``cosign verify --key`` checks of one layer: ECDSA-SHA256 over the payload bytes."""
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(b64sig), payload, ec.ECDSA(hashes.SHA256()))


def test_attachment_written_read_and_verified(env: Env, sample_layout: Path) -> None:
    host = env.registry.host
    env.sign_push(f"oci:{sample_layout}:hello", "ns/img:v1")
    _, _, digest = env.manifest("ns/img", "v1")
    # Only the attachment: nothing in the lookaside.
    assert not env.lookaside.exists() or not any(env.lookaside.rglob("signature-*"))

    # The layout cosign writes and reads.
    raw, _, _ = env.manifest("ns/img", digest.replace(":", "-") + ".sig")
    att = json.loads(raw)
    assert list(att) == ["schemaVersion", "mediaType", "config", "layers"]
    assert att["schemaVersion"] == 2 and att["mediaType"] == OCI_MANIFEST
    assert list(att["config"]) == ["mediaType", "digest", "size"]
    assert att["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    [layer] = att["layers"]
    assert list(layer) == ["mediaType", "digest", "size", "annotations"]
    assert layer["mediaType"] == SIG_MIME and list(layer["annotations"]) == [SIG_ANNOTATION]
    config = env.blob("ns/img", att["config"]["digest"])
    assert config == json.dumps({"architecture": "", "os": "", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}},
                                separators=(",", ":")).encode()
    payload = env.blob("ns/img", layer["digest"])
    assert len(payload) == layer["size"]
    claims = json.loads(payload)
    assert claims["critical"] == {"identity": {"docker-reference": f"{host}/ns/img:v1"},
                                  "image": {"docker-manifest-digest": digest},
                                  "type": "cosign container image signature"}
    _cosign_verify(env.public.read_bytes(), payload, layer["annotations"][SIG_ANNOTATION])

    # Verified and accepted by a sigstoreSigned policy; the signature travels into dir:.
    ok = env.pull("ns/img:v1", "out", env.policy("ok.json", env.public))
    assert ok.returncode == 0, ok.stderr
    sig = signature.decode((env.tmp / "out" / "signature-1").read_bytes())
    envelope = signature.SigstoreEnvelope.from_json(sig.data)
    assert sig.kind == "sigstore" and envelope.mime_type == SIG_MIME and envelope.payload == payload
    assert envelope.annotations == layer["annotations"]
    assert not (env.tmp / "out" / "signature-2").exists()

    # Another key: rejected, nothing written.
    bad = env.pull("ns/img:v1", "bad", env.policy("other.json", env.other_public))
    assert bad.returncode == 1
    assert _msg(bad) == ("Source image rejected: cryptographic signature verification failed: "
                         "invalid signature when validating ASN.1 encoded signature")
    assert not (env.tmp / "bad" / "manifest.json").exists()

    # Attachments disabled: not read, so no signature; and sigstore signatures cannot be written.
    off = env.pull("ns/img:v1", "off", env.policy("ok.json", env.public), regd=env.regd_off)
    assert _msg(off) == "Source image rejected: A signature was required, but no signature exists"
    p = env.skopeo("copy", "-q", "--dest-tls-verify=false", "--sign-by-sigstore-private-key", str(env.private),
                   "--sign-passphrase-file", str(env.passfile), f"oci:{sample_layout}:hello",
                   f"docker://{host}/ns/img:v9", regd=env.regd_off)
    assert p.returncode == 1 and _msg(p) == "writing signatures: writing sigstore attachments is disabled by configuration"


def test_tampered_manifest_and_missing_or_bad_attachments(env: Env, sample_layout: Path) -> None:
    host = env.registry.host
    env.sign_push(f"oci:{sample_layout}:hello", "ns/img:v1")
    raw_att, _, _ = env.manifest("ns/img", env.manifest("ns/img", "v1")[2].replace(":", "-") + ".sig")
    # Another manifest (v2s2 of the same image) under the same tag, and the
    # original's attachment copied to the new digest: the signature names the old digest.
    p = env.skopeo("copy", "-q", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{sample_layout}:hello",
                   f"docker://{host}/ns/img:v1")
    assert p.returncode == 0, p.stderr
    _, _, new_digest = env.manifest("ns/img", "v1")
    r = env.http.put(f"/v2/ns/img/manifests/{new_digest.replace(':', '-')}.sig", content=raw_att,
                     headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    pol = env.policy("repo.json", env.public, {"type": "matchRepository"})
    bad = env.pull("ns/img:v1", "bad", pol)
    assert re.fullmatch(r"Source image rejected: Signature for digest sha256:[0-9a-f]{64} does not match", _msg(bad))
    assert not (env.tmp / "bad" / "manifest.json").exists()

    # No attachment tag at all (MANIFEST_UNKNOWN): simply no signatures.
    env.run("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{sample_layout}:hello",
            f"docker://{host}/ns/unsigned:v1", check=True, policy=False)
    p = env.pull("ns/unsigned:v1", "u", pol)
    assert _msg(p) == "Source image rejected: A signature was required, but no signature exists"

    # An attachment tag holding a non-OCI manifest is an error, as upstream.
    _, _, udigest = env.manifest("ns/unsigned", "v1")
    tag = udigest.replace(":", "-") + ".sig"
    env.run("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s2",
            f"oci:{sample_layout}:hello", f"docker://{host}/ns/unsigned:{tag}", check=True, policy=False)
    p = env.pull("ns/unsigned:v1", "u2", pol)
    assert _msg(p) == (f"unexpected MIME type for sigstore attachment manifest {host}/ns/unsigned:{tag}: "
                       '"application/vnd.docker.distribution.manifest.v2+json"')


def test_signatures_carried_between_registry_repositories(env: Env, sample_layout: Path) -> None:
    host = env.registry.host
    env.sign_push(f"oci:{sample_layout}:hello", "ns/img:v1")
    # A second signature of the same manifest is appended to the attachment.
    env.sign_push(f"oci:{sample_layout}:hello", "ns/img:v1")
    _, _, digest = env.manifest("ns/img", "v1")
    src_att = env.attachment("ns/img", digest)
    assert len(src_att["layers"]) == 2 and src_att["layers"][0] != src_att["layers"][1]
    config = json.loads(env.blob("ns/img", src_att["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [lay["digest"] for lay in src_att["layers"]]

    # registry → registry: the attachment is read at the source and written at the destination.
    for _ in range(2):  # the second copy finds both signatures there already and adds nothing
        p = env.skopeo("copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                       f"docker://{host}/ns/img:v1", f"docker://{host}/other/copy:v1")
        assert p.returncode == 0, p.stderr
        dest_att = env.attachment("other/copy", digest)
        assert dest_att["layers"] == src_att["layers"]
        assert dest_att["config"] == src_att["config"]
    # The signatures claim ns/img: accepted for other/copy only with a matching identity rule.
    ident = {"type": "exactRepository", "dockerRepository": f"{host}/ns/img"}
    ok = env.pull("other/copy:v1", "ok", env.policy("exact.json", env.public, ident))
    assert ok.returncode == 0, ok.stderr
    assert (env.tmp / "ok" / "signature-2").exists()
    bad = env.pull("other/copy:v1", "bad", env.policy("default.json", env.public))
    assert "Source image rejected: None of the signatures were accepted" in _msg(bad)


def test_list_instance_signatures_use_the_instance_digest(env: Env, tmp_path: Path) -> None:
    host = env.registry.host
    layout = tmp_path / "multi"
    make_multiarch(str(layout), "v1")
    p = env.run("--insecure-policy", "copy", "-q", "--all", "--dest-tls-verify=false", f"oci:{layout}:v1",
                f"docker://{host}/ns/list:v1", check=True, policy=False)
    index, _, _ = env.manifest("ns/list", "v1")
    instance = json.loads(index)["manifests"][1]["digest"]
    # Sign one instance (by digest); its attachment is sha256-<instance>.sig in the same repository.
    env.sign_push(f"docker://{host}/ns/list@{instance}", "ns/list:signed-instance", "--src-tls-verify=false")
    assert len(env.attachment("ns/list", instance)["layers"]) == 1
    # Copying the whole list carries the instance's signature under the instance digest.
    p = env.skopeo("copy", "-q", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                   f"docker://{host}/ns/list:v1", f"docker://{host}/other/list:v1")
    assert p.returncode == 0, p.stderr
    assert env.attachment("other/list", instance)["layers"] == env.attachment("ns/list", instance)["layers"]
    r = env.http.get(f"/v2/other/list/manifests/{json.loads(index)['manifests'][0]['digest'].replace(':', '-')}.sig",
                     headers={"Accept": ACCEPT})
    assert r.status_code == 404


def _upload(env: Env, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = env.http.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = httpx.URL(r.headers["Location"]).copy_merge_params({"digest": digest})
    r = env.http.put(location, content=data,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def test_reads_and_extends_a_cosign_written_attachment(env: Env, sample_layout: Path) -> None:
    """An attachment as ``cosign sign --key`` writes it (go-containerregistry's
    config with zero timestamps, cosign's payload with ``"optional": null``
    and extra annotations): verified, carried with every annotation, and
    extended by our signer keeping cosign's config fields."""
    from skopeo_sigstore import keys

    host = env.registry.host
    env.run("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{sample_layout}:hello",
            f"docker://{host}/ns/cos:v1", check=True, policy=False)
    _, _, digest = env.manifest("ns/cos", "v1")
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{host}/ns/cos"},
                                       "image": {"docker-manifest-digest": digest},
                                       "type": "cosign container image signature"}, "optional": None},
                         separators=(",", ":")).encode()
    key = keys.load_private_key(env.private.read_bytes(), "s3cret")
    sig_b64 = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    annotations = {SIG_ANNOTATION: sig_b64, "dev.sigstore.cosign/bundle": '{"SignedEntryTimestamp":"x"}'}
    layer: dict[str, Any] = {"mediaType": SIG_MIME, "size": len(payload), "digest": _upload(env, "ns/cos", payload),
             "annotations": annotations}
    config = (b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
              b'"os":"","rootfs":{"type":"layers","diff_ids":["' + layer["digest"].encode() + b'"]},"config":{}}')
    att = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                      "digest": _upload(env, "ns/cos", config)},
           "layers": [layer]}
    r = env.http.put(f"/v2/ns/cos/manifests/{digest.replace(':', '-')}.sig", content=json.dumps(att).encode(),
                     headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text

    ok = env.pull("ns/cos:v1", "ok", env.policy("repo.json", env.public, {"type": "matchRepository"}))
    assert ok.returncode == 0, ok.stderr
    envelope = signature.SigstoreEnvelope.from_json(signature.decode((env.tmp / "ok" / "signature-1").read_bytes()).data)
    assert envelope.payload == payload and envelope.annotations == annotations

    # Our signer appends to cosign's attachment; the config keeps cosign's fields (Go's field order).
    env.sign_push(f"oci:{sample_layout}:hello", "ns/cos:v1")
    new = env.attachment("ns/cos", digest)
    assert new["layers"][0] == layer and len(new["layers"]) == 2
    assert env.blob("ns/cos", new["config"]["digest"]) == (
        b'{"created":"0001-01-01T00:00:00Z","architecture":"","os":"","config":{},"rootfs":{"type":"layers",'
        b'"diff_ids":["' + layer["digest"].encode() + b'","' + new["layers"][1]["digest"].encode() + b'"]},'
        b'"history":[{"created":"0001-01-01T00:00:00Z"}]}')
    ok = env.pull("ns/cos:v1", "ok2", env.policy("repo.json", env.public, {"type": "matchRepository"}))
    assert ok.returncode == 0, ok.stderr
    assert (env.tmp / "ok2" / "signature-2").exists()


def test_attachment_blobs_corrupted_in_transit_are_refused(env: Env, sample_layout: Path, faulty_proxy: Any) -> None:
    """A signature payload (an attachment layer) and an attachment config damaged
    between the registry and us (one byte flipped by a proxy): refused by their
    digest, before anything looks at their contents, and nothing is written."""
    from skopeo.testing.registry import Fault, flip_middle_byte

    env.sign_push(f"oci:{sample_layout}:hello", "ns/img:v1")
    _, _, digest = env.manifest("ns/img", "v1")
    att = env.attachment("ns/img", digest)
    payload_digest, config_digest = att["layers"][0]["digest"], att["config"]["digest"]
    damaged = {d: "sha256:" + hashlib.sha256(flip_middle_byte(env.blob("ns/img", d))).hexdigest()
               for d in (payload_digest, config_digest)}
    proxy = faulty_proxy(env.registry.port, "none", [
        Fault(rf"^GET /v2/ns/img/blobs/({payload_digest}|{config_digest})$", action="corrupt", times=None)])
    (env.regd / "proxy.yaml").write_text(f"docker:\n  {proxy.host}:\n    use-sigstore-attachments: true\n")
    mismatch = 'digest mismatch, expected "{}", got "{}"'

    # Reading the signatures (copied along, no policy looks at them): the payload's digest is checked.
    p = env.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{proxy.host}/ns/img:v1", f"dir:{env.tmp / 'out'}")
    assert p.returncode == 1
    assert _msg(p) == mismatch.format(payload_digest, damaged[payload_digest])
    assert not (env.tmp / "out" / "manifest.json").exists()
    # The same under a sigstoreSigned policy: the digest, not the signature check, refuses it.
    pol = env.policy("proxy.json", env.public, {"type": "matchRepository"})
    pol.write_text(pol.read_text().replace(env.registry.host, proxy.host))
    p = env.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{proxy.host}/ns/img:v1", f"dir:{env.tmp / 'out2'}",
                   policy=pol)
    assert p.returncode == 1
    assert _msg(p) == mismatch.format(payload_digest, damaged[payload_digest])
    assert not (env.tmp / "out2" / "manifest.json").exists()

    # Adding a signature reads the existing attachment's config: checked too, and the attachment is unchanged.
    p = env.skopeo("copy", "-q", "--dest-tls-verify=false", "--sign-by-sigstore-private-key", str(env.private),
                   "--sign-passphrase-file", str(env.passfile), f"oci:{sample_layout}:hello",
                   f"docker://{proxy.host}/ns/img:v1")
    assert p.returncode == 1
    assert _msg(p) == "writing signatures: " + mismatch.format(config_digest, damaged[config_digest])
    assert env.attachment("ns/img", digest) == att
