"""Settings: environment > ``shipyard.toml`` (``SHIPYARD_CONFIG_FILE``) > defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pydantic
import pytest

from shipyard.core.config import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SHIPYARD_* variable of the machine running the tests leaks into these."""
    for name in os.environ:
        if name.startswith("SHIPYARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPYARD_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.chdir(tmp_path)


def _write_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config" / "shipyard.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    monkeypatch.setenv("SHIPYARD_CONFIG_FILE", str(path))
    return path


def test_defaults_apply_without_a_file_or_variables() -> None:
    settings = Settings()
    assert settings.port == 8080
    assert settings.worker_slots == 2
    assert settings.home == Path("~/.shipyard").expanduser().resolve()
    assert settings.resolved_database_url == f"sqlite:///{settings.home / 'shipyard.db'}"
    assert settings.resolved_artifact_uri == str(settings.home / "artifacts")


def test_the_file_overrides_defaults_and_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_toml(
        tmp_path,
        monkeypatch,
        f'port = 9000\nworker_slots = 3\nhome = "{tmp_path / "from-file"}"\n'
        f'data_roots = ["{tmp_path / "a"}"]\n',
    )
    monkeypatch.setenv("SHIPYARD_PORT", "9100")
    monkeypatch.setenv("SHIPYARD_DATA_ROOTS", f'["{tmp_path / "b"}"]')

    settings = Settings()
    assert settings.port == 9100  # environment
    assert settings.data_roots == [tmp_path / "b"]  # environment
    assert settings.worker_slots == 3  # file
    assert settings.home == tmp_path / "from-file"  # file
    assert settings.heartbeat_seconds == 2.0  # default
    assert settings.allowed_data_roots == [tmp_path / "from-file" / "data", tmp_path / "b"]


def test_shipyard_toml_in_the_working_directory_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_CONFIG_FILE")
    (tmp_path / "shipyard.toml").write_text("worker_slots = 5\n")
    assert Settings().worker_slots == 5


def test_an_unknown_key_in_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_toml(tmp_path, monkeypatch, "port = 9000\nworker_slot = 3\n")
    with pytest.raises(pydantic.ValidationError, match="worker_slot"):
        Settings()


def test_an_unknown_argument_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="colour"):
        Settings(colour="blue")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SHIPYARD_PORT", "70000"), ("SHIPYARD_WORKER_SLOTS", "0"), ("SHIPYARD_EXECUTOR", "ray")],
)
def test_an_invalid_value_is_refused(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(pydantic.ValidationError, match=variable.removeprefix("SHIPYARD_").lower()):
        Settings()


def test_an_invalid_value_in_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_toml(tmp_path, monkeypatch, 'heartbeat_seconds = "often"\n')
    with pytest.raises(pydantic.ValidationError, match="heartbeat_seconds"):
        Settings()
