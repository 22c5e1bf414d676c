"""The CLI on local transports, compared byte for byte with the reference skopeo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skopeo.testing import images
from skopeo.testing.fixtures import fatal_message

pytestmark = pytest.mark.oracle


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_copy_oci_to_dir_matches_reference(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    ours = run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/ours", check=True)
    theirs = oracle("copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/theirs", check=True)
    assert _files(tmp_path / "ours") == _files(tmp_path / "theirs")
    assert (tmp_path / "ours" / "version").read_bytes() == b"Directory Transport Version: 1.1\n"
    # Same progress lines, except that upstream no longer prints "Storing signatures" without signatures.
    assert ours.stdout == theirs.stdout.replace("Storing signatures\n", "")
    for p in (tmp_path / "ours").iterdir():
        assert oct(p.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("args", [[], ["--config"], ["--raw"], ["--config", "--raw"],
                                  ["--format", "{{.Name}}|{{.RepoTags}}|{{.Created}}|{{.Architecture}}"]])
def test_inspect_matches_reference(sample_layout: Path, run_skopeo, oracle, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    for name in (f"oci:{sample_layout}:hello",):
        ours = run_skopeo("inspect", *args, name, check=True).stdout
        theirs = oracle("inspect", *args, name, check=True).stdout
        if not args:
            obj = json.loads(ours)
            assert obj.pop("LayersData")[0]["MIMEType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
            # Upstream adds LayersData after Layers; 1.9.3 does not have it.
            assert json.dumps(obj, indent=4) == json.dumps(json.loads(theirs), indent=4)
            assert ours.replace(ours[ours.index('    "LayersData"'):ours.index('    "Env"')], "") == theirs
        else:
            assert ours == theirs


def test_inspect_dir_and_manifest_digest(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", check=True)
    ours = run_skopeo("manifest-digest", f"{tmp_path}/d/manifest.json", check=True).stdout
    assert ours == oracle("manifest-digest", f"{tmp_path}/d/manifest.json", check=True).stdout
    (tmp_path / "garbage").write_bytes(b"\x00not json")
    assert run_skopeo("manifest-digest", str(tmp_path / "garbage"), check=True).stdout == \
        oracle("manifest-digest", str(tmp_path / "garbage"), check=True).stdout


@pytest.mark.parametrize(
    "flags",
    [["--dest-decompress"], ["--format", "v2s2"], ["--format", "oci"], ["--dest-compress"]],
)
def test_conversions_match_reference(tmp_path: Path, sample_layout: Path, run_skopeo, oracle, flags: list[str]) -> None:  # type: ignore[no-untyped-def]
    run_skopeo("copy", *flags, f"oci:{sample_layout}:hello", f"dir:{tmp_path}/ours", check=True)
    oracle("copy", *flags, f"oci:{sample_layout}:hello", f"dir:{tmp_path}/theirs", check=True)
    assert _files(tmp_path / "ours") == _files(tmp_path / "theirs")


def test_decompressed_dir_back_to_oci(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """An uncompressed layer is compressed again for oci:; the result is valid for
    the reference tool and umoci, with the same diff_ids."""
    run_skopeo("copy", "--dest-decompress", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/plain", check=True)
    run_skopeo("copy", f"dir:{tmp_path}/plain", f"oci:{tmp_path}/layout:again", check=True)
    images.validate(f"oci:{tmp_path}/layout:again")
    theirs = json.loads(oracle("inspect", "--raw", f"oci:{tmp_path}/layout:again", check=True).stdout)
    assert theirs["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    oracle("copy", f"oci:{tmp_path}/layout:again", f"dir:{tmp_path}/check", check=True)
    ours_cfg = run_skopeo("inspect", "--config", f"oci:{tmp_path}/layout:again", check=True).stdout
    assert ours_cfg == oracle("inspect", "--config", f"oci:{sample_layout}:hello", check=True).stdout


def test_reference_dir_is_read_by_us(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    oracle("copy", "--format", "v2s2", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/theirs", check=True)
    run_skopeo("copy", f"dir:{tmp_path}/theirs", f"dir:{tmp_path}/ours", check=True)
    assert _files(tmp_path / "ours") == _files(tmp_path / "theirs")
    images.validate(f"dir:{tmp_path}/ours")


def test_dir_destination_rules(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    proc = run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{precious}")
    assert proc.returncode == 1
    assert f"initializing destination dir:{precious}: not a containers image directory, don't want to overwrite important data" in proc.stderr
    assert (precious / "thesis.txt").read_text() == "do not delete"
    # An existing image directory is emptied first: no stale files survive.
    img = tmp_path / "img"
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{img}", check=True)
    (img / "stale").write_text("x")
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{img}", check=True)
    assert not (img / "stale").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "nocolon"], 'Error parsing image name "nocolon": Invalid image name "nocolon", expected colon-separated transport:reference'),
        (["inspect", "foo:bar"], 'Error parsing image name \\"foo:bar\\": Invalid image name \\"foo:bar\\", unknown transport \\"foo\\"'),
        (["copy", "foo:bar", "dir:x"], "Invalid source name foo:bar: Invalid image name"),
        (["inspect"], "Exactly one argument expected"),
        (["copy", "a"], "Exactly two arguments expected"),
        (["copy", "--bogus", "a", "b"], "unknown flag: --bogus"),
        ([], "Missing command 'skopeo COMMAND'"),
        (["bogus"], "Unrecognized command `skopeo bogus`"),
        (["copy", "--all", "--multi-arch", "all", "dir:a", "dir:b"], "Cannot use --all and --multi-arch flags together"),
        (["copy", "--multi-arch", "x", "dir:a", "dir:b"], 'unknown multi-arch option \\"x\\"'),
        (["copy", "--format", "x", "dir:a", "dir:b"], 'unknown format \\"x\\"'),
        (["copy", "--dest-compress", "--dest-decompress", "oci:/nonexistent:b", "dir:/tmp"],
         "initializing destination dir:/tmp: Cannot compress and decompress at the same time"),
        (["copy", "--src-creds", "", "dir:a", "dir:b"], "credentials can't be empty"),
        (["copy", "--src-creds", ":x", "dir:a", "dir:b"], "username can't be empty"),
        (["copy", "--src-username", "u", "dir:a", "dir:b"], "password must be specified when username is specified"),
        (["copy", "--dest-compress-format", "lz4", "dir:a", "dir:b"], 'cannot find compressor for \\"lz4\\"'),
        (["inspect", "--raw", "--format", "x", "dir:/nonexistent"], "raw output does not support format option"),
        (["manifest-digest", "/nonexistent/m.json"], "Error reading manifest from /nonexistent/m.json: open /nonexistent/m.json: no such file or directory"),
        (["inspect", "--tls-verify", "false", "dir:x"], "Exactly one argument expected"),
    ],
)
def test_usage_errors(run_skopeo, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo(*args)
    assert proc.returncode == 1, proc.stderr
    assert message.replace('\\"', '"') in proc.stderr.replace('\\"', '"')
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("level=fatal") == 1


def test_missing_dir_image(tmp_path: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """A missing dir: image is an I/O error, exit 1: upstream's exit 2 is only for
    registry MANIFEST_UNKNOWN, storage and oci/oci-archive lookups."""
    proc = run_skopeo("inspect", f"dir:{tmp_path}/none")
    assert proc.returncode == 1
    assert f"open {tmp_path}/none/manifest.json: no such file or directory" in proc.stderr
    proc = run_skopeo("copy", f"dir:{tmp_path}/none", f"dir:{tmp_path}/out")
    theirs = oracle("copy", f"dir:{tmp_path}/none", f"dir:{tmp_path}/out2")
    assert proc.returncode == theirs.returncode == 1
    message = f"determining manifest MIME type for dir:{tmp_path}/none: open {tmp_path}/none/manifest.json"
    assert message in proc.stderr and message in theirs.stderr


def test_missing_parent_directory_is_refused(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """dir:, oci: and oci-archive: resolve their path when parsed: a missing
    parent directory is an error (never created), worded as upstream."""
    for dest in (f"dir:{tmp_path}/no/d", f"oci:{tmp_path}/no/o", f"oci-archive:{tmp_path}/no/a.tar"):
        ours = run_skopeo("copy", f"oci:{sample_layout}:hello", dest)
        theirs = oracle("copy", f"oci:{sample_layout}:hello", dest)
        assert ours.returncode == theirs.returncode == 1, dest
        message = f"Invalid destination name {dest}: lstat {tmp_path}/no: no such file or directory"
        assert message in ours.stderr and message in theirs.stderr, ours.stderr
    assert not (tmp_path / "no").exists()


def test_errors_opening_source_and_destination_name_them(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (f"oci:{sample_layout}:hello", f"docker-archive:{tmp_path}/no/x.tar",
         f'initializing destination docker-archive:{tmp_path}/no/x.tar: opening file "{tmp_path}/no/x.tar": '
         f"open {tmp_path}/no/x.tar: no such file or directory"),
        (f"docker-archive:{tmp_path}/none.tar", f"dir:{tmp_path}/d1",
         f'initializing source docker-archive:{tmp_path}/none.tar: opening file "{tmp_path}/none.tar": '
         f"open {tmp_path}/none.tar: no such file or directory"),
        (f"oci:{tmp_path}/nolayout:x", f"dir:{tmp_path}/d3",
         f"initializing source oci:{tmp_path}/nolayout:x: open {tmp_path}/nolayout/index.json: no such file or directory"),
    ]
    for src, dest, message in cases:
        ours = run_skopeo("copy", src, dest)
        theirs = oracle("copy", src, dest)
        assert ours.returncode == theirs.returncode == 1, (src, ours.stderr)
        unquoted = [p.stderr.replace('\\"', '"') for p in (ours, theirs)]
        assert all(message in text for text in unquoted), unquoted


def test_global_flags_after_command_and_bool_values(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("inspect", f"oci:{sample_layout}:hello", "--debug", "--no-tags=true", "--format", "{{.Os}}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "linux\n"
    proc = run_skopeo("--version")
    assert proc.stdout.startswith("skopeo version ")
    proc = run_skopeo("inspect", "--help")
    assert "Usage:\nskopeo inspect [command options] IMAGE-NAME" in proc.stdout and proc.returncode == 0


def test_digestfile_and_quiet(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("copy", "-q", "--digestfile", f"{tmp_path}/digest", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", check=True)
    assert proc.stdout == ""
    digest = (tmp_path / "digest").read_text()
    assert digest == run_skopeo("manifest-digest", f"{tmp_path}/d/manifest.json", check=True).stdout.strip()
    assert oct(os.stat(tmp_path / "digest").st_mode & 0o777) == "0o644"


# pflag's grammar and its error texts, compared with the reference word for word.
FLAG_ERRORS = [
    ["copy", "-x", "a", "b"],
    ["copy", "--retry-times", "abc", "a", "b"],
    ["copy", "--retry-times"],
    ["login", "-u"],
    ["copy", "--dest-compress-level", "abc", "a", "b"],
    ["copy", "--quiet=maybe", "a", "b"],
    ["--debug=nope", "inspect", "x"],
    ["copy", "--multi-arch"],
    ["copy", "-qx", "a", "b"],
    ["inspect", "-n"],
    ["copy", "--retry-times=0x1f", "a", "b"],
    ["login", "-vu"],
]




@pytest.mark.parametrize("args", FLAG_ERRORS, ids=" ".join)
def test_flag_errors_match_reference(run_skopeo, oracle, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = run_skopeo(*args), oracle(*args)
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


def test_flag_grammar() -> None:
    from skopeo.cli.copy import COMMAND as COPY
    from skopeo.cli.pflag import BOOL, STR, Flag, parse
    from skopeo.errors import UsageError

    login_flags = [Flag("username", STR, short="u"), Flag("verbose", BOOL, short="v")]

    opts, args = parse(COPY.flags, ["a", "-q", "--retry-times=017", "b", "--additional-tag", "x,y",
                                    "--additional-tag=z", "--src-tls-verify", "--dest-tls-verify=0", "--", "--all"])
    assert args == ["a", "b", "--all"]
    assert opts["quiet"] is True and opts["all"] is False
    assert opts["retry_times"] == 15  # Go's base-0 octal
    assert opts["additional_tag"] == ["x", "y", "z"]
    assert opts["src_tls_verify"] is True and opts["dest_tls_verify"] is False
    assert parse(COPY.flags, [])[0]["src_tls_verify"] is None
    # A string slice is read as one CSV record, as pflag does.
    assert parse(COPY.flags, ["--additional-tag", '"a,b",,c'])[0]["additional_tag"] == ["a,b", "", "c"]
    # Shorthand values: attached, after "=", or the next argument; booleans combine.
    for argv in (["-uNAME"], ["-u=NAME"], ["-u", "NAME"]):
        assert parse(login_flags, argv)[0]["username"] == "NAME"
    assert parse(login_flags, ["-vuNAME"])[0] == {"username": "NAME", "verbose": True}
    # A boolean never takes the next argument as its value.
    opts, args = parse(COPY.flags, ["--quiet", "false", "x"])
    assert opts["quiet"] is True and args == ["false", "x"]
    assert parse(COPY.flags, ["-"])[1] == ["-"]
    # Newer than the reference: an unsigned flag, with strconv.ParseUint's wording.
    with pytest.raises(UsageError, match=r'for "--image-parallel-copies" flag: strconv\.ParseUint: parsing "-1"'):
        parse(COPY.flags, ["--image-parallel-copies", "-1"])


def _complete(*words: str) -> tuple[list[str], str]:
    """cobra's completion protocol: candidates, then ":<directive>"."""
    proc = subprocess.run([sys.executable, "-m", "skopeo", "__completeNoDesc", *words], capture_output=True, text=True,
                          check=True)
    *candidates, directive = proc.stdout.splitlines()
    return candidates, directive


def test_shell_completion() -> None:
    """The hidden ``completion`` command prints cobra's script, which asks
    ``skopeo __complete …`` for commands, flags and transports."""
    script = subprocess.run([sys.executable, "-m", "skopeo", "completion", "bash"], capture_output=True, text=True,
                            check=True).stdout
    assert script.startswith("# bash completion V2 for skopeo") and " __complete " in script
    assert _complete("co") == (["copy"], ":4")
    # Plugin commands (typer's, run as skopeo's own) complete like the rest.
    assert _complete("lo") == (["login", "logout"], ":4")
    assert _complete("login", "--us") == (["--user-agent-prefix", "--username"], ":4")
    assert "completion" not in _complete("")[0]  # hidden, as upstream
    assert _complete("copy", "--dest-compress-f") == (["--dest-compress-format"], ":4")
    assert "--debug" in _complete("--de")[0]
    transports, directive = _complete("inspect", "doc")  # every transport: the shell filters
    assert {"dir:", "docker:", "docker-archive:", "docker-daemon:", "oci:"} <= set(transports) and directive == ":6"
    assert _complete("inspect", "docker:") == (["docker://"], ":6")


def _verify_schema1_signature(manifest: bytes) -> None:
    """Check the libtrust JWS cryptographically (what the registry does on push)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from skopeo import manifest as mf

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    (sig,) = json.loads(manifest)["signatures"]
    jwk = sig["header"]["jwk"]
    assert sig["header"]["alg"] == "ES256" and jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64(jwk["x"]), "big"), int.from_bytes(unb64(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    raw = unb64(sig["signature"])
    payload = base64.urlsafe_b64encode(mf.schema1_payload(manifest)).decode().rstrip("=")
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               f"{sig['protected']}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))


def test_format_v2s1_matches_reference(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """``--format v2s1`` writes the reference's manifest byte for byte (but for
    the throw-away signing key), with the empty layer its history needs, and the
    reference reads it back."""
    from skopeo import manifest as mf

    src = f"oci:{sample_layout}:hello"
    run_skopeo("copy", "--format", "v2s1", src, f"dir:{tmp_path}/ours", check=True)
    oracle("copy", "--format", "v2s1", src, f"dir:{tmp_path}/theirs", check=True)
    ours, theirs = (tmp_path / "ours" / "manifest.json").read_bytes(), (tmp_path / "theirs" / "manifest.json").read_bytes()
    assert mf.schema1_payload(ours) == mf.schema1_payload(theirs)
    assert mf.manifest_digest(ours) == mf.manifest_digest(theirs)
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == sorted(p.name for p in (tmp_path / "theirs").iterdir())
    _verify_schema1_signature(ours)
    info = json.loads(oracle("inspect", f"dir:{tmp_path}/ours", check=True).stdout)
    assert info["Digest"] == mf.manifest_digest(ours) and info["Architecture"] == "amd64"
    # And back: the reference converts our schema1 image to OCI.
    oracle("copy", f"dir:{tmp_path}/ours", f"oci:{tmp_path}/back:x", check=True)
    # (throwaway layers are dropped again on the way back)
    assert images.validate(f"oci:{tmp_path}/back:x") == images.validate(src)


def test_schema1_conversion_refusals() -> None:
    from skopeo import schema1
    from skopeo.errors import ManifestError

    layer = "sha256:" + "a" * 64
    with pytest.raises(ManifestError, match="Cannot convert an image with 0 history entries"):
        schema1.from_config(b'{"architecture":"amd64","os":"linux"}', [layer], [layer], "", "")
    two_layers_of_history = b'{"history":[{"created_by":"a"},{"created_by":"b"}]}'
    with pytest.raises(ManifestError, match="needs more than the 1 distributed layers"):
        schema1.from_config(two_layers_of_history, [layer], [layer], "", "")
    with pytest.raises(ManifestError, match="history is not a list of objects"):
        schema1.from_config(b'{"history":["x"]}', [layer], [layer], "", "")


def test_digestfile_is_written_in_place(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """--digestfile is written as os.WriteFile does: through a symlink, keeping an
    existing file's mode, into a device, with the reference's error texts."""
    src = f"oci:{sample_layout}:hello"
    link = tmp_path / "link"
    link.symlink_to("target")
    existing = tmp_path / "existing"
    existing.write_text("old")
    existing.chmod(0o600)
    run_skopeo("copy", "--digestfile", str(link), src, f"dir:{tmp_path}/a", check=True)
    run_skopeo("copy", "--digestfile", str(existing), src, f"dir:{tmp_path}/b", check=True)
    assert link.is_symlink() and (tmp_path / "target").read_text().startswith("sha256:")
    assert existing.read_text().startswith("sha256:") and existing.stat().st_mode & 0o777 == 0o600
    (tmp_path / "adir").mkdir()
    for i, target in enumerate((f"{tmp_path}/no/such", f"{tmp_path}/adir", "/dev/full")):
        ours = run_skopeo("copy", "--digestfile", target, src, f"dir:{tmp_path}/ours{i}")
        theirs = oracle("copy", "--digestfile", target, src, f"dir:{tmp_path}/theirs{i}")
        assert ours.returncode == theirs.returncode == 1
        assert fatal_message(ours.stderr) == fatal_message(theirs.stderr), ours.stderr
    assert Path("/dev/full").is_char_device()




def test_gzip_levels_as_upstream(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """--dest-compress-level with gzip: -2 (Huffman only) to 9; 0 stores; others
    fail while the layer is read, with upstream's message."""
    plain = f"dir:{tmp_path}/plain"
    run_skopeo("copy", "--dest-decompress", f"oci:{sample_layout}:hello", plain, check=True)
    layer_size = max(p.stat().st_size for p in (tmp_path / "plain").iterdir())

    def compressed(level: str, name: str) -> int:
        run_skopeo("copy", "--dest-compress", f"--dest-compress-level={level}", plain, f"dir:{tmp_path}/{name}", check=True)
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        return int(manifest["layers"][0]["size"])

    assert compressed("0", "stored") > layer_size  # stored blocks: no compression at all
    assert compressed("9", "best") < compressed("-2", "huffman") < layer_size
    assert compressed("-1", "default") < compressed("-2", "huffman2")
    for level in ("10", "-3"):
        ours = run_skopeo("copy", "--dest-compress", f"--dest-compress-level={level}", plain, f"dir:{tmp_path}/o{level}")
        theirs = oracle("copy", "--dest-compress", f"--dest-compress-level={level}", plain, f"dir:{tmp_path}/t{level}")
        assert ours.returncode == theirs.returncode == 1
        assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)
        assert f"writing blob: happened during read: gzip: invalid compression level: {level}" in ours.stderr


def test_destination_paths_as_upstream(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """Odd destination paths get the reference's result and wording: ``dir:`` is
    the current directory, ``oci:`` is refused, a file where a directory should
    be fails when the name is parsed or when the destination is opened."""
    src = f"oci:{sample_layout}:hello"
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    for side in ("ours", "theirs"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "data").mkdir()
        (tmp_path / side / "data" / "x").write_text("x")
    for dest in ("dir:", "oci:", "dir:data", "dir:../afile", "dir:../afile/d", "oci:../afile:x", "oci:../afile/o:x",
                 "oci-archive:../afile/a.tar:x", "oci-archive:../dangling", "dir:../dangling"):
        ours = run_skopeo("copy", "--quiet", src, dest, cwd=tmp_path / "ours")
        theirs = oracle("copy", "--quiet", src, dest, cwd=tmp_path / "theirs")
        assert ours.returncode == theirs.returncode, (dest, ours.stderr, theirs.stderr)
        if theirs.returncode:
            # Upstream main lists a directory with os.ReadDir: "open X", where 1.9.3 said "readdirent X".
            expected = fatal_message(theirs.stderr).replace(": readdirent ", ": open ")
            assert fatal_message(ours.stderr) == expected, dest
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "theirs"))


@pytest.mark.parametrize("name", ["127.0.0.1:5000/repo/img", "nosuch:foo", "oci:/tmp", "dir:/tmp", "containers-storage:x"])
def test_list_tags_transport_errors(run_skopeo, oracle, name: str) -> None:  # type: ignore[no-untyped-def]
    """A prefix naming no transport (a registry's host:port) is "does not specify
    a transport"; a transport that cannot list tags is "Unsupported"."""
    ours, theirs = run_skopeo("list-tags", name), oracle("list-tags", name)
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


def test_copy_from_a_broken_manifest(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """The manifest is parsed before anything is announced: nothing on stdout,
    upstream's context and Go's JSON error text."""
    run_skopeo("copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/src", check=True)
    (tmp_path / "src" / "manifest.json").write_text("{bad")
    ours = run_skopeo("copy", f"dir:{tmp_path}/src", f"dir:{tmp_path}/ours")
    theirs = oracle("copy", f"dir:{tmp_path}/src", f"dir:{tmp_path}/theirs")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout == theirs.stdout == ""
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr) == (
        f"initializing image from source dir:{tmp_path}/src: invalid character 'b' looking for beginning of object key string"
    )


@pytest.mark.parametrize("args", [
    ["copy", "--format=", "SRC", "DEST"],
    ["copy", "--multi-arch=", "SRC", "DEST"],
    ["--command-timeout", "x", "inspect", "SRC"],
    ["--command-timeout", "5", "inspect", "SRC"],
    ["--command-timeout", "5x", "inspect", "SRC"],
    ["--command-timeout", "5sx", "inspect", "SRC"],
    ["--command-timeout", ".", "inspect", "SRC"],
    ["--command-timeout=", "inspect", "SRC"],
    ["copy", "--retry-times", " 1", "SRC", "DEST"],
    ["inspect"],
    ["delete"],
    ["manifest-digest"],
])
def test_flag_values_and_argument_counts_as_upstream(tmp_path: Path, sample_layout: Path, run_skopeo, oracle,  # type: ignore[no-untyped-def]
                                                     args: list[str]) -> None:
    argv = [a.replace("SRC", f"oci:{sample_layout}:hello").replace("DEST", f"dir:{tmp_path}/d") for a in args]
    ours, theirs = run_skopeo(*argv), oracle(*argv)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.count("\n") == 1, ours.stderr  # the fatal line only, no help text
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


def test_json_format_and_negative_retries(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    src = f"oci:{sample_layout}:hello"
    plain = run_skopeo("inspect", src, check=True).stdout
    for fmt in ("json", " json ", "{{json}}", "{{ json. }}", " {{ json. }} "):  # containers/common's IsJSON
        assert run_skopeo("inspect", "--format", fmt, src, check=True).stdout == plain
    # As upstream main: "{{json .}}" is a template, report's json function, compact.
    compact = json.dumps(json.loads(plain), separators=(",", ":"), ensure_ascii=False)
    assert run_skopeo("inspect", "--format", "{{json .}}", src, check=True).stdout == compact + "\n"
    assert run_skopeo("inspect", "--format", " {{ json . }} ", src, check=True).stdout == f" {compact} \n"
    assert fatal_message(run_skopeo("inspect", "--raw", "--format", "{{json .}}", src).stderr) == \
        "raw output does not support format option"
    run_skopeo("copy", "--retry-times", "-1", src, f"dir:{tmp_path}/d", check=True)  # as upstream: no retries
    proc = run_skopeo("copy", "--retry-delay", "5", src, f"dir:{tmp_path}/e")
    assert fatal_message(proc.stderr) == 'invalid argument "5" for "--retry-delay" flag: time: missing unit in duration "5"'


@pytest.mark.parametrize("args", [
    ["delete", "oci-archive:TMP/x.tar"],
    ["delete", "docker-archive:TMP/x.tar"],
    ["delete", "dir:TMP"],
    ["manifest-digest", "TMP"],
])
def test_more_command_errors_as_upstream(tmp_path: Path, sample_layout: Path, run_skopeo, oracle,  # type: ignore[no-untyped-def]
                                         args: list[str]) -> None:
    argv = [a.replace("TMP", str(tmp_path)) for a in args]
    ours, theirs = run_skopeo(*argv), oracle(*argv)
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


@pytest.mark.parametrize("args", [
    ["--user-agent", "x", "inspect", "SRC"],
    ["--polic", "x", "copy", "SRC", "DEST"],
    ["-x", "y", "inspect", "SRC"],
    ["--policy", "x"],
])
def test_unknown_global_flags_take_a_value_like_cobra(tmp_path: Path, sample_layout: Path, run_skopeo, oracle,  # type: ignore[no-untyped-def]
                                                      args: list[str]) -> None:
    argv = [a.replace("SRC", f"oci:{sample_layout}:hello").replace("DEST", f"dir:{tmp_path}/d") for a in args]
    ours, theirs = run_skopeo(*argv, policy=False), oracle(*argv)
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)


@pytest.mark.parametrize("flags", [
    ["--sign-identity", "x"],
    ["--sign-passphrase-file", "/nonexistent/pass"],
    ["--sign-by", "x", "--sign-passphrase-file", "/nonexistent/pass"],
    ["--sign-by-sigstore-private-key", "/nonexistent/key"],
])
def test_signing_flags_are_checked_before_copying(tmp_path: Path, sample_layout: Path, run_skopeo, oracle,  # type: ignore[no-untyped-def]
                                                  flags: list[str]) -> None:
    args = ("copy", *flags, f"oci:{sample_layout}:hello")
    ours, theirs = run_skopeo(*args, f"dir:{tmp_path}/ours"), oracle(*args, f"dir:{tmp_path}/theirs")
    assert ours.returncode == theirs.returncode == 1
    assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)
    assert not (tmp_path / "ours").exists() and ours.stdout == ""


def test_schema1_config_as_upstream(tmp_path: Path, sample_layout: Path, run_skopeo, oracle) -> None:  # type: ignore[no-untyped-def]
    """A schema1 image has no config blob: --config shows the config upstream
    derives from its history, --raw --config prints nothing."""
    oracle("copy", "--format", "v2s1", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/s1", check=True)
    for args in (["--config"], ["--raw", "--config"], ["--config", "--format", "{{.RootFS.Type}} {{.History}}"]):
        ours = run_skopeo("inspect", *args, f"dir:{tmp_path}/s1", check=True)
        theirs = oracle("inspect", *args, f"dir:{tmp_path}/s1", check=True)
        assert ours.stdout == theirs.stdout, args


@pytest.mark.parametrize("args", [
    ["foo", "--help"],
    ["copy", "-qh"],
    ["copy", "--help", "--bogus"],
    ["copy", "--bogus", "--help"],
    ["inspect", "--version"],
    ["copy", "-v"],
    ["copy", "--help=false", "SRC", "DEST"],
])
def test_help_and_version_flags_like_cobra(tmp_path: Path, sample_layout: Path, run_skopeo, oracle,  # type: ignore[no-untyped-def]
                                           args: list[str]) -> None:
    argv = [a.replace("SRC", f"oci:{sample_layout}:hello").replace("DEST", f"dir:{tmp_path}/d") for a in args]
    ours, theirs = run_skopeo(*argv), oracle(*argv)
    assert ours.returncode == theirs.returncode, ours.stderr
    if theirs.returncode:
        assert fatal_message(ours.stderr) == fatal_message(theirs.stderr)
    else:  # the same help page (its text has newer upstream's wording) or a copy
        assert ours.stdout.split("\n", 1)[0] == theirs.stdout.split("\n", 1)[0]


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("5s", 5.0), ("1h30m", 5400.0), ("1.5ms", 0.0015), (".5s", 0.5), ("1.s", 1.0), ("-2m", -120.0),
    ("+3us", 3e-6), ("2µs", 2e-6),
])
def test_parse_duration_values(text: str, seconds: float) -> None:
    from skopeo.golang.duration import parse_duration

    assert parse_duration(text) == pytest.approx(seconds)


def test_version_is_a_release(run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """Upstream's systemtest 001-basic: "skopeo version [0-9.]+", and with
    RELEASE_TESTING no "dev" anywhere."""
    proc = run_skopeo("--version")
    assert proc.returncode == 0
    assert re.fullmatch(r"skopeo version [0-9]+\.[0-9]+\.[0-9]+\n", proc.stdout), proc.stdout
    assert "dev" not in proc.stdout + proc.stderr
