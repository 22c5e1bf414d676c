"""Fixtures for the skopeo-vault tests: an isolated home (no auth file,
registries.conf or vault of the machine leaks in), this test's own vault, and
only the plugins the tests use.  The registries (``basic_auth_registry``:
HTTPS with htpasswd Basic auth), ``run_skopeo`` and ``sample_layout`` come
from the core's pytest plugin (``skopeo.testing``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skopeo import plugins


@pytest.fixture(autouse=True)
def vault_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    (tmp_path / "registries.conf").write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))
    for var in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SKOPEO_VAULT", str(tmp_path / "vault" / "vault.db"))
    monkeypatch.setenv(plugins.ENV_PLUGINS, "docker,oci,dir,vault")
    plugins.set_manager(None)
    yield tmp_path / "vault" / "vault.db"
    plugins.set_manager(None)
