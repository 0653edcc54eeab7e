"""The peers' virtual environments, under benchmarks/.venv/ (ignored by git: BentoML's and
MLflow's pins conflict with the project's): created once with pip, reused while their
package list is the same, and the versions found in each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

PEER_VENVS = Path(__file__).parents[1] / ".venv"  # under the repository's `.venv/` rule
INSTALL_TIMEOUT_SECONDS = 1_800.0


@dataclass(frozen=True)
class PeerEnvironment:
    name: str
    packages: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return PEER_VENVS / self.name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def marker(self) -> Path:
        return self.venv / "serving-benchmark-packages.txt"

    @property
    def install_log(self) -> Path:
        return PEER_VENVS / f"{self.name}-install.log"

    def ready(self) -> bool:
        return (
            self.python.exists()
            and self.marker.exists()
            and self.marker.read_text() == (" ".join(self.packages))
        )


def peer_environments() -> list[PeerEnvironment]:
    lightgbm = f"lightgbm=={version('lightgbm')}"  # the project's: the same booster code
    return [
        PeerEnvironment("bentoml", ("bentoml", lightgbm)),
        PeerEnvironment("mlflow", ("mlflow", lightgbm)),
    ]


def prepare_environments(environments: list[PeerEnvironment]) -> dict[str, str]:
    """Create the missing virtual environments, their pip installs side by side; the reason
    for each one that could not be made."""
    failures: dict[str, str] = {}
    installs: dict[str, tuple[subprocess.Popen[bytes], Any]] = {}
    PEER_VENVS.mkdir(parents=True, exist_ok=True)
    for env in environments:
        if env.ready():
            continue
        print(f"creating {env.venv} (pip install {' '.join(env.packages)}; once, minutes)")
        created = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(env.venv)], capture_output=True
        )
        if created.returncode != 0:
            failures[env.name] = f"python -m venv failed: {created.stderr.decode()[-300:]}"
            continue
        log = env.install_log.open("wb")
        command = [str(env.python), "-m", "pip", "install", "--quiet", *env.packages]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        installs[env.name] = (process, log)
    deadline = time.monotonic() + INSTALL_TIMEOUT_SECONDS
    try:
        codes = {name: _wait_or_kill(process, deadline) for name, (process, _) in installs.items()}
    finally:
        for process, log in installs.values():
            if process.poll() is None:  # interrupted: leave no pip running
                process.kill()
            log.close()
    for env in environments:
        if env.name not in installs:
            continue
        code = codes[env.name]
        if code == 0:
            env.marker.write_text(" ".join(env.packages))
        else:
            tail = env.install_log.read_text(errors="replace").strip().splitlines()[-3:]
            failures[env.name] = (
                f"pip install {' '.join(env.packages)} failed ({code}; {env.install_log}): "
                + " | ".join(tail)
            )
    return failures


def _wait_or_kill(process: subprocess.Popen[bytes], deadline: float) -> int:
    try:
        return process.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


VERSION_PROBE = """
import json, platform, sys
from importlib.metadata import PackageNotFoundError, version
found = {"python": platform.python_version()}
for name in sys.argv[1:]:
    try:
        found[name] = version(name)
    except PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""
PROBED = ["lightgbm", "numpy", "uvicorn", "starlette", "fastapi", "uvloop", "httptools", "h11"]


def versions_in(python: Path | str, extra: list[str]) -> dict[str, Any]:
    probe = subprocess.run(
        [str(python), "-c", VERSION_PROBE, *extra, *PROBED], capture_output=True, text=True
    )
    return json.loads(probe.stdout) if probe.returncode == 0 else {"error": probe.stderr[-300:]}


def peer_env(env: PeerEnvironment, **extra: str) -> dict[str, str]:
    """This environment's variables, with the peer's venv first on PATH (``mlflow models
    serve`` finds ``uvicorn`` there), and no SHIPYARD_* or VIRTUAL_ENV of ours."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "VIRTUAL_ENV"))}
    path = f"{env.venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"
    return {**base, "PATH": path, "VIRTUAL_ENV": str(env.venv), **extra}
