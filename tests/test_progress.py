import io
import time

from skopeo.progress import CountingReader, Progress, human


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_non_tty_prints_lines_and_periodic_status() -> None:
    out = io.StringIO()
    p = Progress(out, interval=0.05)
    bar = p.blob("Copying blob sha256:abc", 100)
    reader = CountingReader(io.BytesIO(b"x" * 60), bar)  # type: ignore[arg-type]
    assert reader.read(60) == b"x" * 60
    time.sleep(0.2)
    bar.finish()
    p.line("Writing manifest to image destination")
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Copying blob sha256:abc"
    assert any(line.startswith("Progress: 1 blob(s) in flight, 60B copied") for line in lines[1:-1])
    assert lines[-1] == "Writing manifest to image destination"


def test_tty_draws_bars_and_final_line() -> None:
    out = FakeTTY()
    p = Progress(out)
    bar = p.blob("Copying blob sha256:abc", 2048)
    bar.add(1024)
    time.sleep(0.3)
    bar.finish()
    p.close()
    text = out.getvalue()
    assert "\x1b[" in text  # redrawn in place
    assert text.rstrip().endswith("Copying blob sha256:abc [==============================] 1.0KiB / 2.0KiB | done") or "| done" in text


def test_quiet_prints_nothing() -> None:
    p = Progress(None)
    bar = p.blob("x", 1)
    bar.finish()
    p.line("y")
    p.close()


def test_human() -> None:
    assert human(10) == "10B"
    assert human(1536) == "1.5KiB"
    assert human(3 * 1024**3) == "3.0GiB"
