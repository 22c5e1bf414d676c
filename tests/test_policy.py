import json
from pathlib import Path

import pytest

from skopeo import api, policy
from skopeo.errors import PolicyError
from skopeo.testing.fixtures import fatal_message


def _load(tmp_path: Path, obj: object | str) -> policy.Policy:
    p = tmp_path / "policy.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return policy.load(str(p))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({}, "Default policy is missing"),
        ({"default": []}, "List of verification policy requirements must not be empty"),
        ({"default": [{"type": "bogus"}]}, 'Unknown policy requirement type "bogus"'),
        ({"default": [{"type": "reject", "extra": 1}]}, 'Unknown key "extra"'),
        ({"default": [{"type": "reject"}], "other": 1}, 'Unknown key "other"'),
        ('{"default":[{"type":"reject"}],"default":[]}', 'Duplicate key "default"'),
        ("{not json", "invalid policy"),
        ({"default": [{"type": "reject"}], "transports": {"dir": {"relative/path": [{"type": "reject"}]}}}, "Must be an absolute path"),
    ],
)
def test_invalid_policies(tmp_path: Path, content: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _load(tmp_path, content)
    with pytest.raises(PolicyError, match=f'invalid policy in "{tmp_path}/policy.json"'):
        _load(tmp_path, content)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file or directory"):
        policy.load(str(tmp_path / "nope.json"))


def test_scope_precedence(tmp_path: Path) -> None:
    base = tmp_path / "images"
    (base / "ns").mkdir(parents=True)
    pol = _load(tmp_path, {
        "default": [{"type": "reject"}],
        "transports": {"dir": {
            "": [{"type": "reject"}],
            str(base): [{"type": "insecureAcceptAnything"}],
            str(base / "ns" / "exact"): [{"type": "reject"}],
        }},
    })
    section, reqs = pol.requirements_for(api.parse(f"dir:{base}/ns/other"))
    assert reqs == [{"type": "insecureAcceptAnything"}] and str(base) in section
    _, reqs = pol.requirements_for(api.parse(f"dir:{base}/ns/exact"))
    assert reqs == [{"type": "reject"}]
    _, reqs = pol.requirements_for(api.parse(f"dir:{tmp_path}/elsewhere"))
    assert reqs == [{"type": "reject"}]
    section, _ = pol.requirements_for(api.parse(f"oci:{tmp_path}/x"))
    assert section == "default policy section"


def test_reject_blocks_copy_before_writing(tmp_path: Path, sample_layout: Path, run_skopeo) -> None:  # type: ignore[no-untyped-def]
    pol = tmp_path / "reject.json"
    pol.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                               "transports": {"oci": {"": [{"type": "reject"}]}}}))
    dest = tmp_path / "out"
    proc = run_skopeo("--policy", str(pol), "copy", f"oci:{sample_layout}:hello", f"dir:{dest}", policy=False)
    assert proc.returncode == 1
    assert f"Source image rejected: Running image oci:{sample_layout}:hello is rejected by policy." in proc.stderr
    assert not (dest / "manifest.json").exists()


def test_insecure_policy_and_require_signed_exclusive(run_skopeo, sample_layout: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("--insecure-policy", "--require-signed", "copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/x", policy=False)
    assert proc.returncode == 1
    assert "--insecure-policy and --require-signed are mutually exclusive" in proc.stderr


def test_require_signed_rejects_unsigned(run_skopeo, sample_layout: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_skopeo("--require-signed", "copy", f"oci:{sample_layout}:hello", f"dir:{tmp_path}/x")
    assert proc.returncode == 1
    # Upstream main's text: the image named by its policy identity (the layout, without the tag).
    assert fatal_message(proc.stderr) == (f"Source image rejected: No signature verification policy found for image "
                                          f"oci:{sample_layout.resolve()}")
    assert not (tmp_path / "x" / "manifest.json").exists()


@pytest.mark.parametrize("transport", ["oci", "dir"])
def test_reject_at_every_path_scope(tmp_path: Path, sample_layout: Path, transport: str) -> None:
    """``reject`` at each scope level of a path transport: its default, an
    ancestor directory, the parent directory and the image itself.  Each level
    rejects what it covers, with upstream's message, before anything is written,
    and leaves its nearest sibling alone (a name sharing a prefix is no child).
    In-process (the CLI's wording is test_reject_blocks_copy_before_writing's)."""
    accept = policy.PolicyContext(policy.Policy.accept_anything())
    base = tmp_path.resolve() / "images"
    names = ("team/app", "team/apple", "other/app")

    def ref(name: str) -> str:
        return f"oci:{base / name}:hello" if transport == "oci" else f"dir:{base / name}"

    for name in names:
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        api.copy(f"oci:{sample_layout}:hello", ref(name), None, accept)
    levels = [
        ("transport default", "", names, ()),
        ("ancestor", str(base), names, ()),
        ("parent", str(base / "team"), ("team/app", "team/apple"), ("other/app",)),
        ("image", str(base / "team" / "app"), ("team/app",), ("team/apple",)),
    ]
    n = 0
    for level, scope, rejected, covered_not in levels:
        pc = policy.PolicyContext(_load(tmp_path, {"default": [{"type": "insecureAcceptAnything"}],
                                                   "transports": {transport: {scope: [{"type": "reject"}]}}}))
        for name in rejected:
            n += 1
            out = tmp_path / f"out-{n}"
            with pytest.raises(PolicyError) as info:
                api.copy(ref(name), f"oci:{out}:x", None, pc)
            assert info.value.message == f"Source image rejected: Running image {ref(name)} is rejected by policy.", level
            assert not (out / "index.json").exists() and not any(out.glob("blobs/*/*")), (level, name)
        for name in covered_not:
            n += 1
            api.copy(ref(name), f"oci:{tmp_path / f'out-{n}'}:x", None, pc)
