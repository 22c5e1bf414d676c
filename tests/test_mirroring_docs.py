"""docs/mirroring.md and its examples: the Kubernetes Indexed Job and the Argo
Workflow are valid for their APIs, their arguments are a sync our CLI accepts,
and the Containerfile runs the README's set-up steps."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from skopeo.testing.fixtures import skopeo_command

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = DOCS / "examples" / "mirroring"


def _container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_job_is_an_indexed_batch_v1_job() -> None:
    job = yaml.safe_load((EXAMPLES / "job.yaml").read_text())
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert isinstance(spec["completions"], int) and spec["completions"] > 1
    assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")  # required for Jobs
    container = _container(job)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SKOPEO_SYNC_SHARD_COUNT"] == str(spec["completions"])
    assert container["args"][0] == "sync"
    assert not any(a.startswith("--shard") for a in container["args"])  # the index comes from the Job
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in spec["template"]["spec"]["volumes"]}


def test_the_job_in_the_page_is_the_example_file() -> None:
    page = (DOCS / "mirroring.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", page, re.S)
    assert block is not None
    shown = yaml.safe_load(block.group(1))
    job = yaml.safe_load((EXAMPLES / "job.yaml").read_text())
    assert shown["spec"]["completionMode"] == job["spec"]["completionMode"]
    assert shown["spec"]["completions"] == job["spec"]["completions"]
    shown_container, container = _container(shown), _container(job)
    assert shown_container["args"] == container["args"]
    assert shown_container["image"] == container["image"]


def test_the_jobs_arguments_run_a_sharded_sync(tmp_path: Path) -> None:
    """The Job's container arguments, with its environment and a real sync.yaml
    naming tags explicitly (no network in a dry run)."""
    job = yaml.safe_load((EXAMPLES / "job.yaml").read_text())
    container = _container(job)
    config = tmp_path / "sync.yaml"
    tags = [f"v{i}" for i in range(40)]
    config.write_text("registry.example:\n  images:\n    team/app:\n" + "".join(f"      - {t}\n" for t in tags))
    args = [a.replace("/config/sync.yaml", str(config)).replace("/results/", f"{tmp_path}/") for a in container["args"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    count = int(env["SKOPEO_SYNC_SHARD_COUNT"])
    total = 0
    for index in range(count):
        proc = subprocess.run([*skopeo_command(), "--insecure-policy", *args, "--dry-run"], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "JOB_COMPLETION_INDEX": str(index),
                                   "SKOPEO_SYNC_SHARD_COUNT": env["SKOPEO_SYNC_SHARD_COUNT"]})
        assert proc.returncode == 0, proc.stderr
        line = next(x for x in proc.stderr.splitlines() if f"Shard {index}/{count}:" in x)
        mine = int(line.split(f"Shard {index}/{count}: ", 1)[1].split()[0])
        assert proc.stderr.count("Would have copied image ref") == mine
        total += mine
    assert total == len(tags)


def test_argo_workflow_fans_out_shards() -> None:
    wf = yaml.safe_load((EXAMPLES / "argo-workflow.yaml").read_text())
    assert wf["apiVersion"] == "argoproj.io/v1alpha1"
    assert wf["kind"] == "Workflow"
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    step = templates[wf["spec"]["entrypoint"]]["steps"][0][0]
    assert step["withSequence"]["start"] == "0"
    args = templates[step["template"]]["container"]["args"]
    assert args[0] == "sync"
    assert "--shard={{inputs.parameters.index}}/{{workflow.parameters.shards}}" in args


def test_containerfile_uses_the_readme_steps() -> None:
    root = DOCS.parent
    text = (EXAMPLES / "Containerfile").read_text()
    readme_first = (root / "README.md").read_text().split("```sh\n", 1)[1].splitlines()[0]
    # The README's sample copy and inspect, with the image's venv.
    assert "skopeo --policy samples/policy.json copy oci:samples/hello-oci:hello dir:/tmp/hello-dir" in readme_first
    assert "/opt/skopeo/bin/skopeo --policy samples/policy.json copy oci:samples/hello-oci:hello dir:/tmp/hello-dir" in text
    assert "RUN ./dev/test" in text
    assert (root / "dev" / "test").exists() and (root / "samples" / "policy.json").exists()
    assert {p.name for p in (root / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    ignored = (root / ".containerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
