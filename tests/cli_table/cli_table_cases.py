"""The differential table: command lines run through upstream skopeo and ours,
whose outputs (stdout, stderr, exit status) must be identical.

Every case works offline: references fail before any network access, local
transports read the workspace (see ``cli_table_harness.make_workspace``), and
registries are addressed at 127.0.0.1:9 (nothing listens there, the refusal is
immediate).  A case with ``differs`` documents a deliberate difference."""

from __future__ import annotations

from cli_table_harness import Case

COMMANDS = ("copy", "delete", "generate-sigstore-key", "inspect", "list-tags", "login", "logout", "manifest-digest",
            "standalone-sign", "standalone-verify", "sync", "untrusted-signature-dump-without-verification",
            "layers", "experimental-image-proxy")  # the last two are hidden
LONG_NAME = "a" * 256
SHA256 = "sha256:" + "0" * 64
POLICY = ("--policy", "$WS/policy.json")
HELLO = "oci:$WS/hello-oci:hello"

# Deliberate differences, each with its reason (see also the README).
RELEASE_VERSION = ("skopeo-py reports the upstream release whose behaviour it follows (1.22.2); a build of main says "
                   "1.22.0-dev, which scripts and upstream's release tests reject")
SHARD = "sync --shard/--shard-count are skopeo-py's own (hidden from help); upstream does not know the flag"
OSTREE = ("skopeo-py keeps the ostree: transport (1.9.3 had it, unlisted in help as upstream main no longer has it); "
          "main says the transport is unknown")
TARBALL_NOT_TAR = ("a tarball: file that is not a tar archive (once decompressed) is refused; upstream makes a layer of "
                   "any file (see plugins/tarball/README.md)")
NO_ATOMIC = "skopeo-py does not implement the deprecated atomic: transport (upstream registers it but hides it)"
DAEMON_EARLY = ("an unreachable docker-daemon: destination fails when it is opened, with the connection error "
                "(upstream starts copying, then reports \"writing blob: io: read/write on closed pipe\")")
SYNC_TO_OCI = "skopeo-py's sync also writes to an OCI layout (--dest oci), which upstream refuses"
# Pending: other work in progress brings these to upstream main's texts.
PENDING_FETCHING = ("pending (docker transport work): main adds \"fetching manifest TAG in REPO:\" before a registry's "
                    "connection error")
SIGN_EARLY = ("an unusable --sign-by key fails before anything is copied (upstream copies the image, then fails "
              "with the same message)")


def _case(group: str, *argv: str, **kw: object) -> Case:
    return Case(f"{group}: {' '.join(argv) if argv else '(none)'}", tuple(argv), **kw)  # type: ignore[arg-type]


def help_cases() -> list[Case]:
    cases = [_case("help", *a) for a in (
        [], ["--help"], ["-h"], ["help"], ["help", "-h"], ["help", "help"], ["help", "--help"],
        ["help", "nosuch"], ["help", "nosuch", "other"], ["help", "copy", "inspect"], ["help", "--nosuch"],
        ["help", "--debug", "copy"], ["help", "completion"], ["help", "completion", "bash"],
        ["help", "untrusted-signature-dump-without-verification"], ["help", "INSPECT"], ["help", "c"],
        ["--debug", "--help"], ["--help", "inspect"], ["-h", "inspect", "x"], ["--help", "nosuch"],
        ["--help=false"], ["--help=false", "inspect"], ["-h=false", "inspect"], ["--help", "--nosuch"],
        ["nosuch", "--help"], ["nosuch", "-h"], ["completion"], ["completion", "--help"], ["completion", "nosh"],
        ["completion", "-h", "bash"], ["help", "help", "copy"], ["help", "a b"], ["help", "a`b"],
        ["--version"], ["-v"], ["--version=false"], ["--version", "inspect"], ["-v", "nosuch"],
        ["inspect", "--version"], ["copy", "-v"], ["--policy"], ["--policy", "x"],
    )]
    for cmd in COMMANDS:
        cases += [_case("help", cmd, "--help"), _case("help", cmd, "-h"), _case("help", "help", cmd),
                  _case("help", cmd, "--help=true", "x", "y"), _case("help", cmd, "-qh" if cmd == "copy" else "-h", "extra")]
    for shell in ("bash", "zsh", "fish", "powershell"):
        cases += [_case("help", "completion", shell, "--help"), _case("help", "help", "completion", shell)]
    return cases


def usage_cases() -> list[Case]:
    """Each command with too few and too many arguments (upstream's own checks)."""
    cases = []
    for cmd in COMMANDS:
        cases += [_case("usage", cmd), _case("usage", cmd, "a", "b", "c", "d", "e")]
    cases += [_case("usage", "copy", "a"), _case("usage", "sync", "a"), _case("usage", "list-tags", "a", "b"),
              _case("usage", "standalone-sign", "a", "b", "c"), _case("usage", "standalone-verify", "a", "b", "c"),
              _case("usage", "generate-sigstore-key", "x"), _case("usage", "logout"), _case("usage", "login", "a", "b")]
    return cases


def grammar_cases() -> list[Case]:
    argvs: list[list[str]] = [
        # mistyped commands and cobra's suggestions
        ["ccopy"], ["cpy"], ["dlete"], ["s"], ["l"], ["st"], ["INSPECT"], ["Copy"], ["xyzzy"], ["in"],
        ["--debug", "cpy"], ["untrusted"], ["layers", "x"], ["experimental-image-proxy"], ["--"], ["--", "copy"],
        ["-"], [""],
        # unknown flags, before and after the command
        ["--nosuch", "inspect", "X"], ["-z", "inspect", "X"], ["inspect", "--nosuch", "X"], ["inspect", "-z", "X"],
        ["copy", "-qx", "a", "b"], ["copy", "-x", "a", "b"], ["copy", "-é", "a", "b"], ["copy", "--é\x01"],
        ["co\x01py"], ["cop\u00e9"], ["---x", "inspect"], ["--=x", "inspect"],
        ["inspect", "---x"], ["inspect", "--=x"], ["--nosuch=1", "inspect"], ["--nosuch"], ["-z"],
        ["login", "-vu"], ["login", "-u"], ["inspect", "-n", "--raw", "-f"], ["copy", "--multi-arch"],
        ["copy", "--retry-times"], ["--policy"], ["--tmpdir"], ["inspect", "-"],
        # values: booleans, integers, durations, string slices
        ["copy", "--quiet=maybe", "a", "b"], ["copy", "--quiet=T", "a"], ["--debug=nope", "inspect", "x"],
        ["copy", "--retry-times", "abc", "a", "b"], ["copy", "--retry-times=0x1f", "a"], ["copy", "--retry-times=017", "a"],
        ["copy", "--retry-times=99999999999999999999", "a", "b"], ["copy", "--retry-times=+3", "a"],
        ["copy", "--retry-times=1_000", "a"], ["copy", "--retry-times= 1", "a", "b"],
        ["copy", "--image-parallel-copies", "-1", "a", "b"], ["copy", "--image-parallel-copies=+1", "a", "b"],
        ["copy", "--dest-compress-level", "abc", "a", "b"], ["copy", "--encrypt-layer", "1,x", "a", "b"],
        ["copy", "--encrypt-layer", "1,,2", "a", "b"], ["copy", "--encrypt-layer=", "a", "b"],
        ["copy", "--retry-delay", "5", "a", "b"], ["copy", "--retry-delay", "5x", "a", "b"],
        ["copy", "--retry-delay", "", "a", "b"], ["copy", "--retry-delay", ".s", "a", "b"],
        ["copy", "--retry-delay", "9999999999h", "a", "b"], ["copy", "--retry-delay=-0", "a"],
        ["--command-timeout", "x", "inspect"], ["--command-timeout=1µs", "inspect"], ["inspect", "--command-timeout", "1"],
        ["copy", "--additional-tag", '"a', "a", "b"], ["copy", "--additional-tag", 'a"b', "a", "b"],
        ["copy", "--additional-tag", '"a"b', "a", "b"], ["copy", "--additional-tag", '"a,b",c', "a"],
        ["copy", "--additional-tag", "Upper:tag", "$WS/x", "y"],
        # where global flags may go; -- ends the flags
        ["inspect", "--debug", "--insecure-policy"], ["inspect", "x", "--", "--raw"], ["inspect", "--", "-x"],
        ["--tmpdir", "inspect", "inspect"], ["--policy", "inspect", "x"], ["-v", "inspect"],
        ["--tls-verify", "inspect"], ["--tls-verify=false", "manifest-digest"], ["--tls-verify=maybe", "inspect"],
        ["--tls-verify", "copy"], ["copy", "--tls-verify", "a"], ["inspect", "--tls-verify=false"],
        ["--insecure-policy", "--require-signed"], ["--insecure-policy", "--require-signed", "inspect"],
        ["--insecure-policy", "--require-signed", "manifest-digest", "x"],
        # completion
        ["completion", "nosh"], ["completion", "bash", "extra"], ["completion", "bash", "--nosuch"],
        ["completion", "bash", "--no-descriptions"], ["completion", "zsh", "--no-descriptions"],
        ["completion", "fish"], ["completion", "zsh"], ["completion", "powershell"],
        ["completion", "fish", "--no-descriptions=false"],
    ]
    complete_lines = [
        [""], ["co"], ["-"], ["--"], ["--de"], ["--debug", ""], ["--nosuch", ""], ["--policy", ""], ["help", ""],
        ["help", "co"], ["help", "copy", ""], ["completion", ""], ["completion", "bash", "-"], ["copy", ""],
        ["copy", "d"], ["copy", "do"], ["copy", "docker:"], ["copy", "docker://"], ["copy", "docker://x"],
        ["copy", "oci:"], ["copy", "oci-archive:"], ["copy", "docker-archive:x"], ["copy", "dir:"], ["copy", "sif:"],
        ["copy", "containers-storage:"], ["copy", "nosuch:"], ["copy", "a", "b", ""], ["copy", "-"], ["copy", "--"],
        ["copy", "--src-c"], ["copy", "--authfile", ""], ["copy", "--authfile="], ["copy", "-q", ""], ["copy", "-f", ""],
        ["copy", "-qf", ""], ["copy", "-q="], ["copy", "--all", "d"], ["copy", "--help", ""], ["copy", "-h", "-"],
        ["copy", "--nosuch", ""], ["copy", "--nosuch=x", ""], ["copy", "--quiet", "--q"], ["copy", "--additional-tag", "x", "--ad"],
        ["inspect", "docker:/"], ["inspect", "-"], ["delete", ""], ["login", ""], ["login", "-"], ["logout", "--"],
        ["sync", ""], ["sync", "-"], ["list-tags", ""], ["manifest-digest", ""], ["standalone-verify", "--"],
        ["untrusted-signature-dump-without-verification", ""], ["nosuch", ""], ["copy", "--", ""],
        ["copy", "x", "--", "-"], ["--tls-verify", ""], ["-v", ""], ["generate-sigstore-key", "-"],
    ]
    cases = [_case("grammar", *a) for a in argvs]
    cases += [_case("complete", "__complete", *a) for a in complete_lines]
    cases += [_case("complete", "__completeNoDesc", *a) for a in ([""], ["copy", "--src-t"], ["-"], ["help", ""])]
    cases += [_case("complete", "__complete"), _case("complete", "__complete", "--help"), _case("complete", "__complete", "-h", "")]
    cases += [Case("complete: __complete '' (COBRA_COMPLETION_DESCRIPTIONS=false)", ("__complete", ""),
                   env={"COBRA_COMPLETION_DESCRIPTIONS": "false"}),
              Case("complete: __complete copy -- (SKOPEO_COMPLETION_DESCRIPTIONS=0)", ("__complete", "copy", "--"),
                   env={"SKOPEO_COMPLETION_DESCRIPTIONS": "0", "COBRA_COMPLETION_DESCRIPTIONS": "1"}),
              Case("complete: __complete '' (SKOPEO_COMPLETION_DESCRIPTIONS=bad)", ("__complete", ""),
                   env={"SKOPEO_COMPLETION_DESCRIPTIONS": "bad", "COBRA_COMPLETION_DESCRIPTIONS": "false"})]
    return cases


# --- references ------------------------------------------------------------------------------
DOCKER_BAD = [
    "docker://Upper/repo", "docker://up/Repo:Tag", "docker://localhost/Up", "docker://UPPER.io/Repo", "docker://",
    f"docker://{LONG_NAME}", f"docker://{'a' * 250}/bbbbbb", "docker://foo@sha999:abc", "docker://foo@sha256:abc",
    "docker://foo@SHA256:" + "0" * 64, "docker://foo@sha512:" + "0" * 64, "docker://foo@" + SHA256 + "0",
    "docker://a:tag:tag", "docker://a/b:T@@", "docker://:tag", "docker://a//b", "docker://a/b/", "docker://-a",
    "docker://a:" + "t" * 129, "docker://" + "0" * 64, "docker://a b", "docker://a\tb", "docker://é",
    "docker://a\x01b", "docker://a\rb", "docker://a\u00a0b", "docker://a\u2028b", "docker://\u00e9t\u00e9/x",
    "docker:busybox", "docker:/busybox", "docker://@" + SHA256, "docker://a@", "docker://a:",
]
DAEMON_BAD = [
    "docker-daemon:", "docker-daemon:Upper", "docker-daemon:Upper/repo:tag", f"docker-daemon:{LONG_NAME}",
    "docker-daemon:foo@md5:abc", "docker-daemon:foo@sha256:abc", "docker-daemon:sha256:abc",
    "docker-daemon:" + SHA256, "docker-daemon:foo@" + SHA256, "docker-daemon:foo:tag@" + SHA256,
    "docker-daemon:a:tag:tag", "docker-daemon::tag", "docker-daemon:" + "0" * 64,
]
LOCAL_BAD = [
    "oci:", "oci:$WS/nonexistent", "oci:$WS/hello-oci:nosuch", "oci:$WS/hello-oci:bad tag", "oci:$WS/hello-oci:@0",
    "oci:$WS/hello-oci:@99", "oci:$WS/hello-oci:a:b", "oci:$WS/garbage", "oci:$WS/empty", "oci:relative:tag",
    "oci-archive:", "oci-archive:$WS/nonexistent", "oci-archive:$WS/garbage", "oci-archive:$WS/garbage:x",
    "dir:", "dir:$WS/nonexistent", "dir:$WS/empty", "dir:$WS/garbage",
    "docker-archive:", "docker-archive:$WS/nonexistent", "docker-archive:$WS/garbage", "docker-archive:$WS/garbage:a:b",
    "docker-archive:$WS/garbage:@0", "docker-archive:$WS/garbage:@x", "docker-archive:$WS/garbage:Upper:tag",
    "nosuch:x", "busybox", "", ":", "x:", "containers-storage:Upper", "sif:$WS/nonexistent",
    "tarball:$WS/nonexistent", "atomic:x",
]


def reference_cases() -> list[Case]:
    cases = []
    for ref in DOCKER_BAD + DAEMON_BAD + LOCAL_BAD:
        cases += [_case("ref", *POLICY, "inspect", ref), _case("ref", *POLICY, "copy", ref, "dir:$OUT"),
                  _case("ref", *POLICY, "copy", HELLO, ref)]
    for ref in DOCKER_BAD[:12] + DAEMON_BAD[:8] + ["oci:$WS/hello-oci:nosuch", "dir:$WS/nonexistent", "nosuch:x"]:
        cases += [_case("ref", "delete", ref), _case("ref", "list-tags", ref), _case("ref", "inspect", "--raw", ref),
                  _case("ref", "inspect", "--config", ref)]
    cases += [_case("ref", "list-tags", r) for r in (
        "docker://busybox:latest", "docker://busybox@" + SHA256, "docker:busybox", "oci:$WS/hello-oci",
        "dir:$WS/empty", "127.0.0.1:9/busybox", "busybox", "nosuch:x", "docker-archive:$WS/nonexistent",
        "docker-archive:$WS/garbage", "containers-storage:x")]
    cases += [_case("ref", "sync", "--src", "docker", "--dest", "dir", r, "$OUT") for r in (
        "Upper/repo", "", f"{LONG_NAME}", "busybox@sha999:abc", "127.0.0.1:9/a:tag:tag")]
    cases += [_case("ref", "sync", "--src", "dir", "--dest", "docker", "$WS/empty", r) for r in (
        "Upper", "127.0.0.1:9/Upper", "")]
    return cases


def transport_cases() -> list[Case]:
    """Transport behaviours the brief names: temporary directories and the daemon."""
    no_daemon = "unix://$WS/nonexistent.sock"
    return [
        # oci-archive: extracts into --tmpdir, else /var/tmp ($TMPDIR is not used)
        Case("transport: oci-archive with TMPDIR missing", (*POLICY, "inspect", "oci-archive:$WS/garbage"),
             env={"TMPDIR": "$WS/nonexistent"}),
        _case("transport", *POLICY, "--tmpdir", "$WS/nonexistent", "inspect", "oci-archive:$WS/garbage"),
        _case("transport", *POLICY, "--tmpdir", "$WS/garbage", "inspect", "oci-archive:$WS/garbage"),
        _case("transport", *POLICY, "--tmpdir", "$WS/nonexistent", "copy", HELLO, "oci-archive:$OUT"),
        # docker-daemon: DOCKER_HOST is not read; --src/--dest-daemon-host is
        Case("transport: docker-daemon ignores DOCKER_HOST", (*POLICY, "inspect", "docker-daemon:busybox:latest",
                                                               "--daemon-host", no_daemon),
             env={"DOCKER_HOST": "tcp://127.0.0.1:9"}),
        _case("transport", *POLICY, "inspect", "--daemon-host", no_daemon, "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "tcp://127.0.0.1:9", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "127.0.0.1:9", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "npipe:///x", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "unix://", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "unix:///etc/passwd", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "http://127.0.0.1:9", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "inspect", "--daemon-host", "", "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "copy", "--src-daemon-host", no_daemon, "docker-daemon:busybox:latest", "dir:$OUT"),
        _case("transport", *POLICY, "copy", "--dest-daemon-host", no_daemon, HELLO, "docker-daemon:a/b:c",
              differs=DAEMON_EARLY),
        _case("transport", *POLICY, "copy", "--dest-daemon-host", no_daemon, HELLO, "docker-daemon:" + SHA256),
        _case("transport", *POLICY, "delete", "--daemon-host", no_daemon, "docker-daemon:busybox:latest"),
        _case("transport", *POLICY, "copy", HELLO, "dir:$WS/nonexistent/sub/dir"),
    ]


def command_cases() -> list[Case]:
    """Good and bad input for each command, all local."""
    p = POLICY
    argvs: list[list[str]] = [
        # inspect
        [*p, "inspect", HELLO], [*p, "inspect", "--raw", HELLO], [*p, "inspect", "--config", HELLO],
        [*p, "inspect", "--config", "--raw", HELLO], [*p, "inspect", "-n", HELLO],
        [*p, "inspect", "--format", "{{json .}}", HELLO], [*p, "inspect", "--format", "json", HELLO],
        [*p, "inspect", "--format", " {{ json . }} ", HELLO], [*p, "inspect", "--format", "{{.Digest}}", HELLO],
        [*p, "inspect", "--format", "{{.Name}} {{.Os}}/{{.Architecture}}", HELLO],
        [*p, "inspect", "--config", "--format", "{{json .}}", HELLO], [*p, "inspect", "--raw", "--format", "x", HELLO],
        [*p, "inspect", "--format", "{{.Nosuch}}", HELLO], [*p, "inspect", "--format", "{{", HELLO],
        [*p, "inspect", "--format=", HELLO], [*p, "inspect", "oci:$WS/hello-oci"],
        [*p, "inspect", "--manifest-digest", "sha512", HELLO], [*p, "inspect", "--manifest-digest", "md5", HELLO],
        [*p, "inspect", "--manifest-digest=", HELLO],
        ["--policy", "$WS/reject.json", "inspect", HELLO], ["--policy", "$WS/nonexistent", "inspect", HELLO],
        [*p, "--override-arch", "arm64", "inspect", HELLO], [*p, "--override-os", "windows", "inspect", HELLO],
        # copy
        [*p, "copy", HELLO, "dir:$OUT"], [*p, "copy", "-q", HELLO, "dir:$OUT"], [*p, "copy", HELLO, "oci:$OUT:t"],
        [*p, "copy", "--format", "v2s2", HELLO, "dir:$OUT"], [*p, "copy", "--format", "oci", HELLO, "oci:$OUT"],
        [*p, "copy", "--format", "x", HELLO, "dir:$OUT"], [*p, "copy", "--format=", HELLO, "dir:$OUT"],
        [*p, "copy", "-f", "v2s1", HELLO, "dir:$OUT"], [*p, "copy", "--dest-compress", HELLO, "oci:$OUT"],
        [*p, "copy", "--dest-decompress", HELLO, "dir:$OUT"], [*p, "copy", "--dest-compress", "--dest-decompress", HELLO, "dir:$OUT"],
        [*p, "copy", "--dest-compress-format", "x", HELLO, "dir:$OUT"],
        [*p, "copy", "--dest-force-compress-format", HELLO, "dir:$OUT"],
        [*p, "copy", "--all", "--multi-arch", "all", HELLO, "dir:$OUT"], [*p, "copy", "--multi-arch", "x", HELLO, "dir:$OUT"],
        [*p, "copy", "--multi-arch=", HELLO, "dir:$OUT"], [*p, "copy", "--multi-arch", "index-only", HELLO, "dir:$OUT"],
        [*p, "copy", "--additional-tag", "a", HELLO, "docker-archive:$OUT"],
        [*p, "copy", "--additional-tag", "a:b@" + SHA256, HELLO, "docker-archive:$OUT"],
        [*p, "copy", "--additional-tag", "Upper:tag", HELLO, "docker-archive:$OUT"],
        [*p, "copy", "--additional-tag", "a:b", HELLO, "docker-archive:$OUT:c/d:e"],
        [*p, "copy", "--src-creds", "", HELLO, "dir:$OUT"], [*p, "copy", "--src-creds", ":pw", HELLO, "dir:$OUT"],
        [*p, "copy", "--src-creds", "u:p", "--src-no-creds", HELLO, "dir:$OUT"],
        [*p, "copy", "--dest-username", "u", HELLO, "dir:$OUT"], [*p, "copy", "--dest-password", "p", HELLO, "dir:$OUT"],
        [*p, "copy", "--screds", "u:p", "--src-username", "u", HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-identity", "busybox", HELLO, "dir:$OUT"], [*p, "copy", "--sign-identity", "Upper", HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-by", "x", "--sign-by-sigstore-private-key", "y", "--sign-passphrase-file", "$WS/passphrase",
         HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-passphrase-file", "$WS/nonexistent", HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-by-sq-fingerprint", "ABCD", HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-by-sigstore", "$WS/nonexistent", HELLO, "dir:$OUT"],
        [*p, "copy", "--sign-by", "x", HELLO, "dir:$OUT"],
        [*p, "copy", "--encrypt-layer", "0", HELLO, "oci:$OUT"],
        [*p, "copy", "--encryption-key", "jwe:$WS/nonexistent", "--decryption-key", "x", HELLO, "oci:$OUT"],
        [*p, "copy", "--encryption-key", "jwe:$WS/nonexistent", HELLO, "oci:$OUT"],
        [*p, "copy", "--encryption-key", "jwe:$WS/garbage", HELLO, "oci:$OUT"],
        [*p, "copy", "--encryption-key", "nosuch:x", HELLO, "oci:$OUT"], [*p, "copy", "--encryption-key", "", HELLO, "oci:$OUT"],
        [*p, "copy", "--decryption-key", "$WS/nonexistent", HELLO, "oci:$OUT"],
        [*p, "copy", "--decryption-key", "$WS/garbage", HELLO, "oci:$OUT"],
        [*p, "copy", "--encrypt-layer", "0", "--format", "x", HELLO, "oci:$OUT"],
        [*p, "copy", "--tls-verify=false", HELLO, "dir:$OUT"], [*p, "copy", "--digestfile", "$WS/nonexistent/d", HELLO, "dir:$OUT"],
        ["--insecure-policy", "copy", HELLO, "dir:$OUT"], ["--policy", "$WS/reject.json", "copy", HELLO, "dir:$OUT"],
        ["--policy", "$WS/badpolicy.json", "copy", HELLO, "dir:$OUT"], ["--policy", "$WS/garbage", "copy", HELLO, "dir:$OUT"],
        ["--require-signed", *p, "copy", HELLO, "dir:$OUT"],
        [*p, "copy", HELLO, "oci-archive:$OUT"], [*p, "copy", HELLO, "docker-archive:$OUT"],
        [*p, "copy", HELLO, "docker-archive:$OUT:a/b:c"],
        # delete
        [*p, "delete", "oci:$WS/hello-oci:hello"], [*p, "delete", "oci:$WS/hello-oci:nosuch"], [*p, "delete", "oci:$WS/hello-oci"],
        [*p, "delete", "dir:$WS/empty"], [*p, "delete", "oci-archive:$WS/garbage"],
        # manifest-digest
        ["manifest-digest", "$WS/manifest.json"], ["manifest-digest", "$WS/garbage"], ["manifest-digest", "$WS/empty"],
        ["manifest-digest", "$WS/nonexistent"], ["manifest-digest", "$WS/emptyfile"],
        # list-tags
        ["list-tags", "oci:$WS/hello-oci"], ["list-tags", "dir:x"],
        # login / logout
        ["login", "--get-login", "127.0.0.1:9"], ["logout", "127.0.0.1:9"], ["logout", "--all"], ["logout", "-a", "x"],
        ["login", "-u", "u", "127.0.0.1:9"], ["login", "--password-stdin", "127.0.0.1:9"],
        ["login", "--password-stdin", "-p", "x", "127.0.0.1:9"], ["login", "-u", "u", "-p", "", "127.0.0.1:9"],
        ["login", "--authfile", "$WS/nonexistent/auth.json", "--get-login", "127.0.0.1:9"],
        ["logout", "--authfile", "$WS/nonexistent.json", "127.0.0.1:9"], ["logout", "--authfile", "$WS/garbage", "x"],
        ["login", "--compat-auth-file", "$WS/c.json", "--authfile", "$WS/a.json", "127.0.0.1:9"],
        ["login", "--get-login", "docker://127.0.0.1:9/a/b"], ["logout", "Upper.io/x:tag"],
        ["login", "-u", "u", "-p", "p", "http://127.0.0.1:9"],
        # signing
        ["standalone-sign", "$WS/manifest.json", "docker.io/library/busybox:latest", "DEADBEEF"],
        ["standalone-sign", "$WS/nonexistent", "busybox", "DEADBEEF", "-o", "$OUT"],
        ["standalone-verify", "$WS/manifest.json", "busybox", "any", "$WS/garbage"],
        ["standalone-verify", "$WS/nonexistent", "busybox", "DEADBEEF", "$WS/garbage"],
        ["standalone-verify", "$WS/manifest.json", "busybox", "DEADBEEF", "$WS/nonexistent"],
        ["standalone-verify", "--public-key-file", "$WS/nonexistent", "$WS/manifest.json", "busybox", "any", "$WS/garbage"],
        ["untrusted-signature-dump-without-verification", "$WS/nonexistent"],
        ["untrusted-signature-dump-without-verification", "$WS/garbage"],
        ["untrusted-signature-dump-without-verification", "$WS/emptyfile"],
        ["generate-sigstore-key"], ["generate-sigstore-key", "--output-prefix", "$WS/manifest"],
        ["generate-sigstore-key", "--output-prefix", "$WS/nonexistent/k", "--passphrase-file", "$WS/passphrase"],
        ["generate-sigstore-key", "--output-prefix", "$OUT", "--passphrase-file", "$WS/nonexistent"],
        # sync
        ["sync", "a", "b"], ["sync", "--src", "docker", "a", "b"], ["sync", "--src", "x", "--dest", "dir", "a", "b"],
        ["sync", "--src", "dir", "--dest", "x", "a", "b"], ["sync", "--src", "dir", "--dest", "dir", "a", "b"],
        ["sync", "--src", "dir", "--dest", "oci", "a", "b"], ["sync", "-s", "yaml", "-d", "dir", "$WS/nonexistent", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-empty.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-bad.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-list.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-noimages.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-unreachable.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "--dry-run", "$WS/sync-badtag.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-regex.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-semver.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "$WS/sync-upper.yaml", "$OUT"],
        ["sync", "-s", "yaml", "-d", "dir", "--keep-going", "$WS/sync-unreachable.yaml", "$OUT"],
        ["sync", "-s", "dir", "-d", "docker", "$WS/nonexistent", "127.0.0.1:9"],
        ["sync", "-s", "dir", "-d", "docker", "--dry-run", "$WS/empty", "127.0.0.1:9"],
        ["sync", "-s", "dir", "-d", "docker", "$WS/dirimg", "127.0.0.1:9/Upper"],
        ["sync", "-s", "dir", "-d", "docker", "--dry-run", "$WS/dirimg", "127.0.0.1:9/x"],
        ["sync", "-s", "dir", "-d", "docker", "--dry-run", "--scoped", "--append-suffix", "-s", "$WS/dirimg", "127.0.0.1:9/x"],
        ["sync", "-s", "dir", "-d", "docker", "--dry-run", "$WS", "127.0.0.1:9/x"],
        [*p, "inspect", "dir:$WS/dirimg"], [*p, "copy", "dir:$WS/dirimg", "oci:$OUT:x"],
        [*p, "copy", "--format", "v2s2", "dir:$WS/dirimg", "docker-archive:$OUT:a/b:c"],
        ["sync", "-s", "docker", "-d", "dir", "127.0.0.1:9/busybox:latest", "$OUT"],
        ["sync", "-s", "docker", "-d", "dir", "--format", "x", "127.0.0.1:9/busybox:latest", "$OUT"],
        [*p, "sync", "-s", "docker", "-d", "dir", "--sign-passphrase-file", "$WS/nonexistent", "127.0.0.1:9/x:y", "$OUT"],
    ]
    cases = [_case("cmd", *a) for a in argvs]
    cases += [
        Case("cmd: login without XDG_RUNTIME_DIR", ("login", "-u", "u", "-p", "p", "127.0.0.1:9"),
             env={"XDG_RUNTIME_DIR": None}),
        Case("cmd: login with XDG_RUNTIME_DIR missing", ("login", "-u", "u", "-p", "p", "127.0.0.1:9"),
             env={"XDG_RUNTIME_DIR": "$WS/nonexistent"}),
        Case("cmd: logout with XDG_RUNTIME_DIR missing", ("logout", "127.0.0.1:9"), env={"XDG_RUNTIME_DIR": "$WS/nonexistent"}),
        Case("cmd: login --get-login with XDG_RUNTIME_DIR missing", ("login", "--get-login", "127.0.0.1:9"),
             env={"XDG_RUNTIME_DIR": "$WS/nonexistent"}),
        Case("cmd: inspect with REGISTRY_AUTH_FILE", (*p, "inspect", "--help"), env={"REGISTRY_AUTH_FILE": "/x/auth.json"}),
        Case("cmd: login --password-stdin", ("login", "--password-stdin", "-u", "u", "127.0.0.1:9"), stdin="pw\n"),
    ]
    return [_mark_signing(c) for c in cases]


_DIFFERENCES = {
    "help: --version": RELEASE_VERSION,
    "help: -v": RELEASE_VERSION,
    "help: -v nosuch": RELEASE_VERSION,
    "cmd: sync --src dir --dest oci a b": SYNC_TO_OCI,
    "main: --policy $WS/policy.json inspect tarball:$WS/garbage": TARBALL_NOT_TAR,
    "main: --policy $WS/policy.json copy tarball:$WS/layer.tar:$WS/garbage dir:$OUT": TARBALL_NOT_TAR,
    "main: --policy $WS/policy.json --tls-details $WS/tls.yaml inspect docker://127.0.0.1:9/x": PENDING_FETCHING,
    "cmd: sync -s yaml -d dir $WS/sync-unreachable.yaml $OUT": PENDING_FETCHING,
    "cmd: sync -s yaml -d dir --keep-going $WS/sync-unreachable.yaml $OUT": PENDING_FETCHING,
    "cmd: sync -s docker -d dir 127.0.0.1:9/busybox:latest $OUT": PENDING_FETCHING,
}


def _mark_signing(case: Case) -> Case:
    """Cases whose texts come from GnuPG: 1.9.3 shows them (main's binary has no gpgme)."""
    argv = case.argv
    if any(a.startswith("atomic:") for a in argv):
        return case._replace(differs=NO_ATOMIC)
    if argv[:1] == ("standalone-sign",) and len(argv) == 4:
        return case._replace(reference="1.9.3")
    if argv[:1] == ("standalone-verify",) and "--public-key-file" not in argv and "$WS/nonexistent" not in argv \
            and argv[3] != "any":
        return case._replace(reference="1.9.3")
    if "--sign-by" in argv and "--sign-passphrase-file" not in argv:
        return case._replace(reference="1.9.3", differs=SIGN_EARLY)
    return case


def main_feature_cases() -> list[Case]:
    """Upstream main's --tls-details, containers-storage:, sif:, tarball:, the
    hidden layers and experimental-image-proxy, inspect --format's report
    functions; and skopeo-py's own additions (deliberate differences)."""
    p = POLICY
    argvs: list[list[str]] = [
        # --tls-details (read when a command builds its first context)
        [*p, "--tls-details", "$WS/nonexistent", "inspect", HELLO], [*p, "--tls-details", "$WS/garbage", "inspect", HELLO],
        [*p, "--tls-details", "$WS/tls.yaml", "inspect", HELLO], [*p, "--tls-details", "$WS/tls-bad.yaml", "inspect", HELLO],
        [*p, "--tls-details", "$WS/tls-unknown.yaml", "inspect", HELLO], [*p, "--tls-details", "$WS/empty", "inspect", HELLO],
        [*p, "--tls-details", "$WS/tls.yaml", "copy", HELLO, "dir:$OUT"],
        ["--tls-details", "$WS/nonexistent", "copy", HELLO, "dir:$OUT"],
        [*p, "--tls-details", "$WS/nonexistent", "copy", "oci:$WS/nonexistent:x", "dir:$WS/nonexistent/y"],
        ["--tls-details", "$WS/nonexistent", "list-tags", "docker://127.0.0.1:9/x"],
        [*p, "--tls-details", "$WS/tls.yaml", "inspect", "docker://127.0.0.1:9/x"],
        [*p, "--tls-details=", "inspect", HELLO], ["inspect", "--tls-details", "$WS/tls.yaml", "--help"],
        # containers-storage: (a store of this run's own, see the harness)
        [*p, "inspect", "containers-storage:busybox"], [*p, "inspect", "--raw", "containers-storage:busybox"],
        [*p, "copy", HELLO, "containers-storage:localhost/hello:t"],
        [*p, "copy", "containers-storage:localhost/nosuch:t", "dir:$OUT"],
        [*p, "delete", "containers-storage:localhost/nosuch:t"],
        [*p, "inspect", "containers-storage:busybox@sha256:abc"],
        [*p, "inspect", "containers-storage:@" + "0" * 64], [*p, "inspect", "containers-storage:abc"],
        [*p, "inspect", "containers-storage:[nosuch@$WS/other+$WS/other-run]busybox"],
        [*p, "inspect", "containers-storage:[vfs@relative+$WS/run]busybox"],
        [*p, "inspect", "containers-storage:"],
        # sif: and tarball: (read-only)
        [*p, "inspect", "sif:$WS/garbage"], [*p, "inspect", "sif:$WS/empty"], [*p, "inspect", "sif:"],
        [*p, "copy", HELLO, "sif:$OUT"], [*p, "inspect", "tarball:$WS/garbage"], [*p, "inspect", "tarball:"],
        [*p, "inspect", "tarball:$WS/empty"], [*p, "copy", "tarball:$WS/layer.tar", "dir:$OUT"],
        [*p, "copy", "tarball:$WS/layer.tar.gz", "oci:$OUT:t"], [*p, "inspect", "tarball:$WS/layer.tar"],
        [*p, "inspect", "--raw", "tarball:$WS/layer.tar.gz"], [*p, "copy", HELLO, "tarball:$OUT"],
        [*p, "copy", "tarball:$WS/layer.tar:$WS/garbage", "dir:$OUT"],
        # layers (hidden, deprecated)
        ["layers", HELLO], ["layers", HELLO, "xyz"], ["layers", HELLO, "md5:abc"], ["layers", HELLO, "sha256:" + "0" * 64],
        ["layers", "oci:$WS/nonexistent:x"], ["layers", "nosuch:x"], ["layers", "--retry-times", "x", HELLO],
        # experimental-image-proxy (hidden): standard input is a pipe, not a socket
        ["experimental-image-proxy"], ["experimental-image-proxy", "--sockfd", "99"],
        ["experimental-image-proxy", "--sockfd", "x"], ["--insecure-policy", "--require-signed", "experimental-image-proxy", "x"],
        # inspect --format: containers/common's report functions and rules
        [*p, "inspect", "--format", "{{.Name | upper}}{{.Os | lower}}", HELLO], [*p, "inspect", "--format", "{{json .Labels}}", HELLO],
        [*p, "inspect", "--format", "table {{.Os}}\t{{.Architecture}}", HELLO],
        [*p, "inspect", "--format", "{{range .Layers}}{{.}} {{end}}", HELLO],
        [*p, "inspect", "--format", "{{truncate .Digest 12}}", HELLO], [*p, "inspect", "--format", '{{join .Layers ","}}', HELLO],
        [*p, "inspect", "--format", "{{.Created}}", HELLO], [*p, "inspect", "--format", "{{.Nosuch | upper}}", HELLO],
        [*p, "inspect", "--format", "{{json}}", HELLO], [*p, "inspect", "--format", "{{ json . }}x", HELLO],
        [*p, "inspect", "--format", "{{range .}}x{{end}}", HELLO], [*p, "inspect", "--format", "{{end}}", HELLO],
        [*p, "inspect", "--format", "{{title .Os}} {{split .Architecture \"d\"}}", HELLO],
        [*p, "inspect", "--format", "{{pad .Os 3 10}}|", HELLO],
        [*p, "inspect", "--config", "--format", "{{.Architecture}} {{.Config.Env}}", HELLO],
        [*p, "inspect", "--config", "--format", "{{json .RootFS}}", HELLO],
        [*p, "inspect", "--config", "--format", "{{.Platform}}", HELLO],
    ]
    cases = [_case("main", *a) for a in argvs]
    cases += [
        Case("main: containers-storage: with another driver's state", (*p, "inspect", "containers-storage:busybox"),
             env={"CONTAINERS_STORAGE_CONF": "$WS/storage-prior.conf"}),
        # skopeo-py's own (see the README)
        _case("ours", "sync", "--shard", "0/2", "-s", "dir", "-d", "docker", "--dry-run", "$WS/dirimg", "127.0.0.1:9/x",
              differs=SHARD),
        _case("ours", *p, "inspect", "ostree:busybox@/nonexistent", differs=OSTREE),
    ]
    return cases


def _storage_case(case: Case) -> Case:
    """A case that opens a containers-storage store needs root (as it was recorded)."""
    opens_store = any(a.startswith("containers-storage:") for a in case.argv) and \
        case.argv[0] not in ("__complete", "__completeNoDesc", "list-tags")
    return case._replace(needs_root=True) if opens_store else case


def all_cases() -> list[Case]:
    cases = (help_cases() + usage_cases() + grammar_cases() + reference_cases() + transport_cases() + command_cases()
             + main_feature_cases())
    seen: set[str] = set()
    unique = []
    for case in cases:
        if case.id not in seen:
            seen.add(case.id)
            if case.id in _DIFFERENCES:
                case = case._replace(differs=_DIFFERENCES[case.id])
            unique.append(_storage_case(_mark_signing(case) if case.id.startswith("ref:") else case))
    return unique
