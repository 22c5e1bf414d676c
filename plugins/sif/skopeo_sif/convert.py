"""Turning a SIF image into a root-filesystem tar and a command, as upstream's
``sif`` transport does (containers/image ``sif/load.go``).

* The definition file's ``%environment`` and ``%runscript`` sections become a
  script injected as ``/podman/runscript``, which is then the image's command;
  without them the command is ``bash``.
* The primary system partition (squashfs) is copied out, extracted with
  ``unsquashfs`` and packed with GNU ``tar --acls --xattrs`` — the same programs
  upstream runs, so the layer holds the same entries, owners, modes, times and
  extended attributes.  Both run under ``fakeroot`` (as upstream always does),
  so that ownership and ``security.*`` attributes survive for any user; root
  without ``fakeroot`` installed runs them directly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess

from skopeo.errors import SkopeoError

from . import siffile

INJECTED_SCRIPT_PATH = "/podman/runscript"
# bufio.Scanner's default limit on one line (MaxScanTokenSize).
MAX_LINE = 64 * 1024
# Definition files are a few KiB; one claiming more is refused rather than read whole.
MAX_DEFFILE = 16 << 20
# Go's unicode.IsSpace: what strings.TrimSpace removes.
_GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _scan_lines(data: bytes) -> list[bytes]:
    """Lines as bufio.ScanLines returns them: split at ``\\n``, one trailing
    ``\\r`` dropped, a last line without newline kept."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        if len(line) >= MAX_LINE:
            raise SkopeoError("reading lines from SIF definition file object: bufio.Scanner: token too long")
        out.append(line[:-1] if line.endswith(b"\r") else line)
    return out


def _trim_space(line: bytes) -> bytes:
    return line.decode("utf-8", "surrogateescape").strip(_GO_SPACES).encode("utf-8", "surrogateescape")


def parse_def_file(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """The non-trivial ``%environment`` lines and the ``%runscript`` lines of a
    definition file (trimmed, as upstream keeps them)."""
    environment: list[bytes] = []
    runscript: list[bytes] = []
    state = ""
    for raw in _scan_lines(data):
        s = _trim_space(raw)
        if s == b"%environment":
            state = "environment"
        elif s == b"%runscript":
            state = "runscript"
        elif s.startswith(b"%"):
            state = ""
        elif state == "environment":
            if s and not s.startswith(b"#"):
                environment.append(s)
        elif state == "runscript":
            runscript.append(s)
    return environment, runscript


def injected_script(environment: list[bytes], runscript: list[bytes]) -> bytes | None:
    """The script upstream injects, or None when there is nothing to run."""
    if not environment and not runscript:
        return None
    return b"#!/bin/bash\n" + b"\n".join(environment) + b"\n" + b"\n".join(runscript) + b"\n"


def command_and_script(image: siffile.SIFImage, fd: int) -> tuple[str, bytes | None]:
    """(command, script to inject or None) from the image's definition file."""
    try:
        desc = image.get_descriptor(data_type=siffile.DATA_DEFFILE)
    except siffile.SIFError:
        script = None  # no (single) definition file: upstream ignores the lookup error
    else:
        if desc.size > MAX_DEFFILE:  # upstream streams it; we hold it, so bound it
            raise SkopeoError(f"reading lines from SIF definition file object: larger than {MAX_DEFFILE >> 20} MiB")
        script = injected_script(*parse_def_file(siffile.read_object(fd, desc)))
    return ("bash" if script is None else INJECTED_SCRIPT_PATH), script


def _write_injected_script(root: str, script: bytes) -> None:
    path = os.path.join(root, INJECTED_SCRIPT_PATH.lstrip("/"))
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, 0o755, exist_ok=True)
    except OSError as e:
        raise SkopeoError(f"creating {parent}: mkdir {parent}: {e.strerror.lower() if e.strerror else e}") from None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    with os.fdopen(fd, "wb") as f:
        f.write(script)


def _exit_text(returncode: int) -> str:
    """Go's ``*exec.ExitError`` text."""
    if returncode < 0:
        return f"signal: {signal.strsignal(-returncode) or -returncode}".lower()
    return f"exit status {returncode}"


def squashfs_to_tar(work_dir: str, squashfs: str, script: bytes | None) -> str:
    """Extract *squashfs* (plus the injected script) and pack it as a tar in
    *work_dir*; returns the tar's path."""
    root = os.path.join(work_dir, "rootfs")
    tar_path = os.path.join(work_dir, "rootfs.tar")
    script_path = os.path.join(work_dir, "script")
    try:
        conversion = (f"unsquashfs -d {shlex.quote(root)} -f {shlex.quote(squashfs)} && "
                      f"tar --acls --xattrs -C {shlex.quote(root)} -cpf {shlex.quote(tar_path)} ./")
        fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        with os.fdopen(fd, "w") as f:
            f.write(f"#!/bin/sh\n{conversion}\n")
        if script is not None:
            _write_injected_script(root, script)
        argv = ["fakeroot", "--", script_path]
        if shutil.which("fakeroot") is None and os.geteuid() == 0:
            argv = ["/bin/sh", script_path]
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SkopeoError(f'converting image: exec: "{argv[0]}": executable file not found in $PATH, output: ') from None
        if proc.returncode != 0:
            output = proc.stdout.decode("utf-8", "replace")
            raise SkopeoError(f"converting image: {_exit_text(proc.returncode)}, output: {output}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        try:
            os.remove(script_path)
        except OSError:
            pass
    return tar_path
