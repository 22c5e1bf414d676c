"""The conformance suite can fail: run against transports broken on purpose
(each claims something it does not do), exactly the checks that catch the
lie fail, and the intact in-memory transport passes everything."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

BROKEN = '''
import io
import itertools
import threading
import time

import pytest

from skopeo.errors import InvalidReferenceError
from skopeo.hookspecs import hookimpl
from skopeo.testing import memory
from skopeo.testing.conformance import TransportConformance
from skopeo.transport import BlobInfo


class Plugin:
    """A plugin object registering one transport."""

    def __init__(self, transport):
        self.transport = transport

    @hookimpl
    def register_transports(self, register):
        register(self.transport)


def make_transport(name, reference=memory.MemoryReference, destination=memory.MemoryDestination, **attrs):
    ref_cls = type(f"Ref_{name}", (reference,), {
        "new_image_destination": lambda self, ctx: destination(self),
    })
    def parse(self, text):
        if not text:
            raise InvalidReferenceError("empty")
        return ref_cls(self, text)
    cls = type(f"T_{name}", (memory.MemoryTransport,), {"name": name, "parse_reference": parse, **attrs})
    return cls()


class RacyDestination(memory.MemoryDestination):
    """Claims a thread-safe put_blob, but all uploads share one buffer."""

    def put_blob(self, stream, info, is_config=False):
        if not hasattr(self, "shared"):
            self.shared = io.BytesIO()
        start = self.shared.tell()
        while chunk := stream.read(4096):
            self.shared.write(chunk)
            time.sleep(0.0005)
        data = self.shared.getvalue()[start:start + (self.shared.tell() - start)]
        self.blobs[info.digest] = data
        return BlobInfo(info.digest, len(data))


class ReformattingDestination(memory.MemoryDestination):
    """Accepts any manifest, but stores it re-serialized (the digest changes)."""

    def commit(self, manifest, mime):
        import json
        super().commit(json.dumps(json.loads(manifest), indent=2).encode(), mime)


class SignatureLosingDestination(memory.MemoryDestination):
    """Says signatures can be stored, then drops them."""

    def put_signatures(self, signatures, instance_digest=None):
        pass


class NotDeletingReference(memory.MemoryReference):
    """Says it deletes, does nothing."""

    def delete_image(self, ctx):
        pass


class Base(TransportConformance):
    bad_names = ("",)

    @pytest.fixture
    def new_image_name(self):
        names = itertools.count()
        return lambda: f"{self.transport}:img-{next(names)}"


class TestRacy(Base):
    transport = "racy"
    plugin_modules = (Plugin(make_transport("racy", destination=RacyDestination)),)


class TestReformatting(Base):
    transport = "reformat"
    plugin_modules = (Plugin(make_transport("reformat", destination=ReformattingDestination)),)


class TestSignatureLosing(Base):
    transport = "nosig"
    plugin_modules = (Plugin(make_transport("nosig", destination=SignatureLosingDestination)),)


class TestNotDeleting(Base):
    transport = "nodelete"
    plugin_modules = (Plugin(make_transport("nodelete", reference=NotDeletingReference)),)


class TestFalseTagLister(Base):
    transport = "notags"
    plugin_modules = (Plugin(make_transport("notags", lists_tags=True)),)


class TestAcceptsAnyName(Base):
    transport = "anyname"
    bad_names = ("/",)
    plugin_modules = (Plugin(make_transport("anyname")),)


class TestIntact(Base):
    transport = "intact"
    plugin_modules = (Plugin(make_transport("intact")),)
'''


def test_the_suite_catches_each_lie(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKOPEO_PLUGINS", "")
    pytester.makepyfile(test_broken=BROKEN)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-rf")
    failed = sorted(set(re.findall(r"^FAILED test_broken\.py::(\w+)::(\w+)", result.stdout.str(), re.M)))
    assert failed == [
        ("TestAcceptsAnyName", "test_bad_names_are_refused"),
        ("TestFalseTagLister", "test_list_tags"),
        ("TestNotDeleting", "test_delete"),
        ("TestRacy", "test_concurrent_put_blob"),
        ("TestReformatting", "test_concurrent_put_blob"),
        ("TestReformatting", "test_image_round_trip"),
        ("TestReformatting", "test_list_round_trip"),
        ("TestSignatureLosing", "test_signatures_stored_or_refused"),
    ], result.stdout.str()
    # Nothing errored in set-up, and the intact transport passed all of it.
    outcomes = result.parseoutcomes()
    assert "errors" not in outcomes, result.stdout.str()
    assert not re.search(r"TestIntact.*FAILED|FAILED.*TestIntact", result.stdout.str())
