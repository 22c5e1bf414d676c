"""Several writers into one layout at once: every entry must survive (upstream
loses entries here because it reads index.json when the destination opens)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from oci_helpers import SAMPLE_DIGEST, copy, entries, make_image

from skopeo import plugins
from skopeo.context import SystemContext

# A child process doing one copy through the public API (the CLI may not exist yet).
_CHILD = """
import sys
from skopeo import plugins
from skopeo.copy import CopyOptions, copy_image
from skopeo.policy import Policy, PolicyContext
src, dest = sys.argv[1], sys.argv[2]
copy_image(PolicyContext(Policy.accept_anything()), plugins.parse_image_name(dest),
           plugins.parse_image_name(src), CopyOptions())
"""


def spawn(src: str, dest: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, src, dest], stderr=subprocess.PIPE)


@pytest.mark.slow
def test_parallel_processes_keep_every_tag(sample: Path, tmp_path: Path) -> None:
    sources = {}
    for i in range(4):
        sources[i] = make_image(tmp_path / f"src{i}", "x", payload=f"image {i}".encode())
    procs = []
    expected = {}
    for round_ in range(3):
        for i in range(4):
            tag = f"t{round_}-{i}"
            expected[tag] = sources[i]
            procs.append(spawn(f"oci:src{i}:x", f"oci:shared:{tag}"))
        tag = f"sample{round_}"
        expected[tag] = SAMPLE_DIGEST
        procs.append(spawn(f"oci:{sample}:hello", f"oci:shared:{tag}"))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    got = {tag: digest for digest, tag in entries(tmp_path / "shared")}
    assert got == expected
    assert len(entries(tmp_path / "shared")) == len(expected)
    for tag, digest in expected.items():
        assert copy(f"oci:shared:{tag}", f"dir:check-{tag}").digest == digest


def test_parallel_threads_and_deletes(sample: Path, tmp_path: Path) -> None:
    copy(f"oci:{sample}:hello", "oci:l:doomed")
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            copy(f"oci:{sample}:hello", f"oci:l:w{i}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    plugins.parse_image_name("oci:l:doomed").delete_image(SystemContext())
    for t in threads:
        t.join()
    # A writer whose reused blobs were collected by the concurrent delete fails
    # cleanly instead of recording a broken entry; every success is readable.
    for e in errors:
        assert "disappeared from the layout" in str(e)
    tags = {tag for _, tag in entries(tmp_path / "l")}
    assert "doomed" not in tags
    assert len(tags) == 8 - len(errors)
    for tag in tags:
        assert tag is not None
        copy(f"oci:l:{tag}", f"dir:check-{tag}")
