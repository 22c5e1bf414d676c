"""Instances of a list are copied in parallel, yet printed in upstream's
order: the first instance's layer is delayed by the proxy, the others start
meanwhile, and the output is still instance 1's lines, then 2's, then 3's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skopeo.testing.images import make_multiarch
from skopeo.testing.registry import Fault, Registry

from .conftest import Runner

DELAY = 2.0


def test_parallel_instances_print_in_list_order(registry: Registry, faulty_proxy: Any, skopeo: Runner,
                                                tmp_path: Path) -> None:
    make_multiarch(str(tmp_path / "src"), "multi")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'src'}:multi",
           f"docker://{registry.host}/repo:multi", check=True)
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/repo:multi",
                              check=True).stdout)
    instances = [m["digest"] for m in index["manifests"]]
    layers = [json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/repo@{d}",
                                check=True).stdout)["layers"][0]["digest"] for d in instances]
    proxy = faulty_proxy(registry.port, faults=[Fault(f"GET .*/blobs/{layers[0]}", "delay", delay=DELAY, times=None)])
    proc = skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{proxy.host}/repo:multi", f"oci:{tmp_path}/o:t")
    assert proc.returncode == 0, proc.stderr
    expected = ["Getting image list signatures", "Copying 3 images generated from 3 images in list"]
    for n, (digest, layer) in enumerate(zip(instances, layers, strict=True), 1):
        config = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                   f"docker://{registry.host}/repo@{digest}", check=True).stdout)["config"]["digest"]
        expected += [f"Copying image {digest} ({n}/3)", "Getting image source signatures", f"Copying blob {layer}",
                     f"Copying config {config}", "Writing manifest to image destination"]
    expected += ["Writing manifest list to image destination", "Storing list signatures"]
    assert proc.stdout.splitlines() == expected
    # The third instance's layer was asked for while the first one's was held back.
    arrivals = {target: t for (_, target, _), t in zip(proxy.requests, proxy.request_times, strict=True)}
    first = next(t for target, t in arrivals.items() if target.endswith(layers[0]))
    third = next(t for target, t in arrivals.items() if target.endswith(layers[2]))
    assert third < first + DELAY
