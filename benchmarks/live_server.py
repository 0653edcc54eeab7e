"""A live `shipyard up` for the benchmarks: started in a home of its own on a free port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_LOAD_QUICKSTART": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    token = ""
    for line in process.stdout:
        match = re.search(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+", line)
        if match:
            token = match.group(0)
            break
    process.stdout.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/api/v1/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url, token
