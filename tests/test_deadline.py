"""skopeo.deadline, the --command-timeout machinery, in this process: waits end
at the deadline, hooks run, helper programs are killed, retries stop, and the
copy engine's reads stop for a local transport; and through the CLI, its last
resort (something that cannot be interrupted) still ends the command one
second after the deadline, without temporary files left behind."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from skopeo import deadline, retry
from skopeo.errors import SkopeoError
from skopeo.progress import BlobProgress, CountingReader, Progress
from skopeo.testing.fixtures import fatal_message, skopeo_command
from skopeo.testing.images import OCILayoutWriter


def test_no_deadline_changes_nothing() -> None:
    assert deadline.remaining() is None and not deadline.expired()
    assert deadline.timeout(5.0) == 5.0 and deadline.timeout(None) is None
    deadline.check()
    assert deadline.sleep(0.01) is True


def test_waits_end_at_the_deadline() -> None:
    with deadline.limit(0.3):
        left = deadline.remaining()
        assert left is not None and 0 < left <= 0.3
        assert deadline.timeout(60.0) == pytest.approx(left, abs=0.05)
        assert deadline.sleep(0.01) is True
        start = time.monotonic()
        assert deadline.sleep(30.0) is False
        assert 0.2 < time.monotonic() - start < 1.0
        assert deadline.expired()
        with pytest.raises(deadline.DeadlineExceeded, match=r"^context deadline exceeded$"):
            deadline.check()
        assert deadline.timeout(60.0) == 0.001  # never 0: a socket would turn non-blocking
    assert not deadline.expired() and deadline.remaining() is None


def test_hooks_run_at_the_deadline_and_wake_a_blocked_reader() -> None:
    import socket

    a, b = socket.socketpair()
    seen: list[bytes] = []

    def reader() -> None:
        seen.append(a.recv(10))  # blocks: nobody writes

    token = deadline.on_expiry(lambda: a.shutdown(socket.SHUT_RDWR))
    try:
        with deadline.limit(0.2):
            t = threading.Thread(target=reader)
            t.start()
            t.join(5)
            assert not t.is_alive() and seen == [b""]
    finally:
        deadline.forget(token)
        a.close()
        b.close()


def test_retries_stop_at_the_deadline_with_the_last_error() -> None:
    """As containers/common's retry loop: the wait ends, the last error is raised."""
    calls: list[float] = []

    def failing() -> None:
        calls.append(time.monotonic())
        raise SkopeoError(f"failure {len(calls)}")

    with deadline.limit(0.5):
        start = time.monotonic()
        with pytest.raises(SkopeoError, match=r"^failure 1$"):
            retry.retrying(failing, retry.Backoff(10, 2.0), SkopeoError, lambda e, w, n: None)
        assert time.monotonic() - start < 1.5
        # After the deadline no retry is even attempted.
        with pytest.raises(SkopeoError, match=r"^failure 2$"):
            retry.retrying(failing, retry.Backoff(10, 0.01), SkopeoError, lambda e, w, n: None)
    assert len(calls) == 2


def test_helper_programs_are_killed_at_the_deadline() -> None:
    with deadline.limit(0.3):
        start = time.monotonic()
        with pytest.raises(deadline.DeadlineExceeded):
            deadline.run(["sleep", "30"], 60)
        assert time.monotonic() - start < 2
    with pytest.raises(SkopeoError, match=r"^sleep: signal: killed$"):
        deadline.run(["sleep", "30"], 0.2)
    assert deadline.run(["true"], 5).returncode == 0


def test_engine_reads_stop_for_any_transport() -> None:
    reader = CountingReader(io.BytesIO(b"x" * 100), BlobProgress(Progress(None), "blob", 100))
    with deadline.limit(0.1):
        assert reader.read(10) == b"x" * 10
        time.sleep(0.2)
        with pytest.raises(deadline.DeadlineExceeded):
            reader.read(10)


# --- through the CLI ---------------------------------------------------------------------
def _slow_layout(path: Path) -> None:
    """A layer that takes seconds to compress with zstd at level 19: C code that
    nothing interrupts, the case the last resort exists for."""
    data = os.urandom(48 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("random")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    w = OCILayoutWriter(str(path))
    w.tag(w.image([buf.getvalue()]), "slow")


@pytest.mark.slow
def test_last_resort_ends_the_command_and_removes_temporary_files(tmp_path: Path, policy_file: Path) -> None:
    _slow_layout(tmp_path / "src")
    dest = tmp_path / "dest"
    start = time.monotonic()
    proc = subprocess.run([*skopeo_command(), "--policy", str(policy_file), "--command-timeout", "1s", "copy",
                           "--dest-compress-format", "zstd", "--dest-compress-level", "19",
                           f"oci:{tmp_path / 'src'}:slow", f"oci:{dest}:x"],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    # The compressor may return within the grace period (the engine's own
    # error) or not (the last resort's): either way the deadline, on time.
    assert fatal_message(proc.stderr) in ("context deadline exceeded",
                                          "writing blob: happened during read: context deadline exceeded")
    assert elapsed < 1 + deadline.GRACE + 1.5, elapsed
    leftovers = [p.name for p in dest.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []
    assert not (dest / "index.json").exists()


def test_last_resort_when_nothing_can_be_interrupted(tmp_path: Path, policy_file: Path) -> None:
    """A FIFO nobody writes to: opening it blocks in the kernel, which no
    deadline check reaches (upstream waits forever).  The last resort ends the
    command one second after the deadline."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    proc = subprocess.run([*skopeo_command(), "--policy", str(policy_file), "--command-timeout", "500ms", "copy",
                           f"docker-archive:{fifo}", f"dir:{tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    assert fatal_message(proc.stderr) == "context deadline exceeded"
    assert 0.5 + deadline.GRACE - 0.2 < elapsed < 0.5 + deadline.GRACE + 2, elapsed
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_commands_upstream_does_not_time_ignore_the_flag(tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "m.json"
    manifest.write_text('{"schemaVersion":2}')
    proc = run_skopeo("--command-timeout", "1ns", "manifest-digest", str(manifest))
    assert proc.returncode == 0 and proc.stdout.startswith("sha256:")
