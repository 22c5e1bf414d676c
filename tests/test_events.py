"""Progress as events (skopeo.events): what the copy engine reports, that the
command line's output is the text consumer of those events (fed the events
of an API copy, it prints the CLI's bytes), list instances in order, the
delivery rules (one call at a time, a consumer's exception ends the copy),
and byte counts."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest

from skopeo import api
from skopeo import events as ev
from skopeo.copy import MULTI_ARCH_ALL, CopyOptions
from skopeo.policy import Policy, PolicyContext
from skopeo.progress import Progress, line_for
from skopeo.testing import images

ACCEPT = PolicyContext(Policy.accept_anything())


class Recorder:
    """A consumer that keeps every event and checks it is never called by two threads at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.events: list[ev.Event] = []
        self.pause = pause
        self._busy = threading.Lock()
        self.overlaps = 0
        self.threads: set[str] = set()

    def __call__(self, event: ev.Event) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()
        try:
            self.threads.add(threading.current_thread().name)
            if self.pause:
                time.sleep(self.pause)
            self.events.append(event)
        finally:
            self._busy.release()

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


@pytest.mark.parametrize(("event", "line"), [
    (ev.GettingSignatures(), "Getting image source signatures"),
    (ev.GettingSignatures(list=True), "Getting image list signatures"),
    (ev.CheckingSignatureSupport(), "Checking if image destination supports signatures"),
    (ev.CopyingConfig("sha256:c", 10), "Copying config sha256:c"),
    (ev.WritingManifest(), "Writing manifest to image destination"),
    (ev.WritingManifest(list=True), "Writing manifest list to image destination"),
    (ev.CreatingSignature("Signing with key ABC"), "Creating signature: Signing with key ABC"),
    (ev.StoringSignatures(2), "Storing signatures"),
    (ev.StoringSignatures(0, list=True), "Storing list signatures"),
    (ev.ImageSkipped("sha256:m"), "Skipping: image already present at destination"),
    (ev.CopyingInstances(3, 3), "Copying 3 images generated from 3 images in list"),
    (ev.CopyingInstances(0, 4), "Copying 0 images generated from 4 images in list"),
    (ev.InstanceStarted(1, 3, "sha256:i"), "Copying image sha256:i (2/3)"),
    (ev.CopyStarted("oci:a", "dir:b"), None),
    (ev.ManifestWritten("sha256:m", "application/vnd.oci.image.manifest.v1+json"), None),
    (ev.ImageDone("sha256:m", "x"), None),
    (ev.CopyDone("sha256:m", "x", False, 1), None),
    (ev.SyncImageStarted(0, 1, "a", "b"), None),
])
def test_line_of_each_event(event: ev.Event, line: str | None) -> None:
    assert line_for(event) == line


def test_events_are_values() -> None:
    a = ev.BlobDone(7, "sha256:a", 10, 10, "sha256:b")
    assert a == ev.BlobDone(7, "sha256:a", 10, 10, "sha256:b") and a != ev.BlobDone(8, "sha256:a", 10, 10, "sha256:b")
    assert a._asdict() == {"blob_id": 7, "digest": "sha256:a", "copied": 10, "size": 10, "stored_digest": "sha256:b",
                           "copy_id": 0, "instance": None}
    assert repr(a).startswith("BlobDone(blob_id=7, digest='sha256:a'")
    assert a._replace(copied=3).copied == 3 and a.copied == 10
    match a:
        case ev.BlobDone(blob_id, digest, copied=n):
            assert (blob_id, digest, n) == (7, "sha256:a", 10)
        case _:
            raise AssertionError("no match")


def test_copy_events(sample_layout: Path, tmp_path: Path) -> None:
    rec = Recorder()
    result = api.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", CopyOptions(events=rec), ACCEPT)
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is ev.CopyStarted and kinds[-1] is ev.CopyDone
    assert rec.events[0] == ev.CopyStarted(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d",
                                           copy_id=rec.events[0].copy_id)
    assert len({e.copy_id for e in rec.events}) == 1 and rec.events[0].copy_id > 0
    assert all(e.instance is None for e in rec.events)
    manifest = json.loads(result.manifest)
    started, done = rec.of(ev.BlobStarted), rec.of(ev.BlobDone)
    assert [(e.digest, e.size, e.index) for e in started] == [
        (layer["digest"], layer["size"], i) for i, layer in enumerate(manifest["layers"])]
    assert sorted(e.blob_id for e in started) == sorted(e.blob_id for e in done)
    for d in done:
        assert d.copied == d.size and d.stored_digest == d.digest
    assert [type(e) for e in rec.events if not isinstance(e, (ev.BlobStarted, ev.BlobProgress, ev.BlobDone))] == [
        ev.CopyStarted, ev.GettingSignatures, ev.CopyingConfig, ev.WritingManifest, ev.ManifestWritten, ev.ImageDone,
        ev.CopyDone]
    assert rec.of(ev.ManifestWritten)[0].digest == result.digest == rec.of(ev.CopyDone)[0].digest
    assert rec.of(ev.CopyDone)[0].bytes_copied == result.bytes_copied == sum(d.copied for d in done)
    assert rec.of(ev.CopyingConfig)[0].digest == manifest["config"]["digest"]
    # Again into the same layout: every layer is there already.
    api.copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:a", None, ACCEPT)
    again = Recorder()
    api.copy(f"oci:{sample_layout}:hello", f"oci:{tmp_path}/o:b", CopyOptions(events=again), ACCEPT)
    assert not again.of(ev.BlobStarted)
    assert [(e.digest, e.index, e.stored_digest) for e in again.of(ev.BlobSkipped)] == [
        (layer["digest"], i, layer["digest"]) for i, layer in enumerate(manifest["layers"])]


def test_text_consumer_prints_what_the_cli_prints(sample_layout: Path, tmp_path: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    """The CLI's output is the text consumer of the events: fed the events of
    an API copy, it writes the CLI's bytes (log style, and after a first copy
    the lines of blobs that are already there)."""
    multi = images.make_multiarch(str(tmp_path / "multi"), "m")
    assert multi.digest
    for n, (src, extra) in enumerate([(f"oci:{sample_layout}:hello", {}), (f"oci:{tmp_path}/multi:m", {"all": True})]):
        for again in (False, True):
            ours = tmp_path / f"api-{n}"
            cli = tmp_path / f"cli-{n}"
            out = io.StringIO()
            text = Progress(out)
            api.copy(src, f"oci:{ours}:{again}", CopyOptions(events=text, multi_arch="all" if extra else "system"), ACCEPT)
            text.close()
            proc = run_skopeo("copy", *(["--all"] if extra else []), src, f"oci:{cli}:{again}", check=True)
            assert out.getvalue() == proc.stdout
            if again:
                assert "Copying blob" in proc.stdout  # reused blobs keep their line, as upstream


def test_list_instances_events_and_order(tmp_path: Path) -> None:
    idx = images.make_multiarch(str(tmp_path / "m"), "m")
    rec = Recorder()
    out = io.StringIO()
    text = Progress(out)
    result = api.copy(f"oci:{tmp_path}/m:m", f"oci:{tmp_path}/o:m",
                      CopyOptions(multi_arch=MULTI_ARCH_ALL, events=ev.fan_out(rec, text)), ACCEPT)
    text.close()
    assert result.digest == idx.digest
    index = json.loads((tmp_path / "m" / "blobs" / "sha256" / idx.digest.split(":")[1]).read_text())
    digests = [m["digest"] for m in index["manifests"]]
    assert [(e.index, e.total, e.digest, e.instance) for e in rec.of(ev.InstanceStarted)] == [
        (i, 3, d, i) for i, d in enumerate(digests)]
    assert sorted((e.index, e.digest, e.new_digest) for e in rec.of(ev.InstanceDone)) == [
        (i, d, d) for i, d in enumerate(digests)]
    for e in rec.events:  # every event of an instance names it
        if isinstance(e, (ev.BlobStarted, ev.BlobDone, ev.CopyingConfig, ev.ImageDone)):
            assert e.instance in (0, 1, 2)
    assert [e.instance for e in rec.of(ev.ImageDone)] and rec.of(ev.ListDone)[0].digest == idx.digest
    assert rec.of(ev.ManifestWritten)[-1] == ev.ManifestWritten(idx.digest, index["mediaType"], list=True,
                                                                 copy_id=rec.events[0].copy_id)
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("Copying image")] == [
        f"Copying image {d} ({i}/3)" for i, d in enumerate(digests, 1)]


def test_text_consumer_orders_interleaved_instances() -> None:
    """Instances' events interleave; their lines come out one instance after
    the other, and after a failure nothing of later instances is printed."""
    out = io.StringIO()
    p = Progress(out)
    p(ev.CopyingInstances(3, 3))
    p(ev.InstanceStarted(1, 3, "sha256:b", instance=1))
    p(ev.InstanceStarted(0, 3, "sha256:a", instance=0))
    p(ev.BlobStarted(1, "sha256:lb", 5, 0, instance=1))
    p(ev.InstanceStarted(2, 3, "sha256:c", instance=2))
    p(ev.BlobStarted(2, "sha256:la", 5, 0, instance=0))
    p(ev.WritingManifest(instance=2))
    p(ev.InstanceDone(1, "sha256:b", "sha256:b", instance=1))
    p(ev.InstanceFailed(2, "boom", instance=2))  # printed, it is the first failure after 0 and 1
    p(ev.WritingManifest(instance=0))
    p(ev.InstanceDone(0, "sha256:a", "sha256:a", instance=0))
    p.close()
    assert out.getvalue().splitlines() == [
        "Copying 3 images generated from 3 images in list",
        "Copying image sha256:a (1/3)", "Copying blob sha256:la", "Writing manifest to image destination",
        "Copying image sha256:b (2/3)", "Copying blob sha256:lb",
        "Copying image sha256:c (3/3)", "Writing manifest to image destination",
    ]
    out = io.StringIO()
    p = Progress(out)
    p(ev.CopyingInstances(3, 3))
    p(ev.InstanceStarted(0, 3, "sha256:a", instance=0))
    p(ev.InstanceStarted(2, 3, "sha256:c", instance=2))
    p(ev.InstanceStarted(1, 3, "sha256:b", instance=1))
    p(ev.InstanceFailed(1, "boom", instance=1))
    p(ev.InstanceFailed(2, "copy cancelled", instance=2))
    p(ev.InstanceDone(0, "sha256:a", "sha256:a", instance=0))
    assert out.getvalue().splitlines()[1:] == ["Copying image sha256:a (1/3)", "Copying image sha256:b (2/3)"]


def test_one_call_at_a_time_and_byte_counts(tmp_path: Path) -> None:
    """Instances and layers copied in parallel: the consumer is never called
    by two threads at once; big layers report bytes as they go."""
    layout = tmp_path / "big"
    w = images.OCILayoutWriter(str(layout))
    w.tag(w.image([images.random_layer_tar(seed, files=3, size=1 << 20) for seed in range(3)]), "big")
    rec = Recorder(pause=0.001)
    api.copy(f"oci:{layout}:big", f"oci:{tmp_path}/o:big", CopyOptions(events=rec), ACCEPT)
    assert rec.overlaps == 0
    assert len(rec.threads) > 1  # really called from the workers
    for started in rec.of(ev.BlobStarted):
        progress = [e.copied for e in rec.of(ev.BlobProgress) if e.blob_id == started.blob_id]
        assert progress == sorted(progress) and progress[-1] <= started.size
        done = next(e for e in rec.of(ev.BlobDone) if e.blob_id == started.blob_id)
        assert done.copied == started.size
        if started.size > 2 * ev.PROGRESS_BYTES:
            assert len([n for n in progress if n]) >= 2


def test_consumer_exception_ends_the_copy(sample_layout: Path, tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    seen: list[ev.Event] = []

    def consumer(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.BlobStarted):
            raise Stop("user cancelled")

    with pytest.raises(Stop):
        api.copy(f"oci:{sample_layout}:hello", f"dir:{tmp_path}/d", CopyOptions(events=consumer), ACCEPT)
    assert not (tmp_path / "d" / "manifest.json").exists()
    assert isinstance(seen[-1], ev.CopyFailed) and seen[-1].error == "user cancelled"


def test_failed_copy_event(tmp_path: Path) -> None:
    rec = Recorder()
    with pytest.raises(Exception) as info:
        api.copy(f"oci:{tmp_path}/missing:x", f"dir:{tmp_path}/d", CopyOptions(events=rec), ACCEPT)
    assert [type(e) for e in rec.events] == [ev.CopyStarted, ev.CopyFailed]
    assert rec.events[-1].error == str(info.value)  # type: ignore[attr-defined]
