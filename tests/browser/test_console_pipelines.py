"""The pipeline pages in headless Chromium against a real `shipyard up`: an execution's
DAG changes colour as its steps run, without a reload; the pipeline page lists it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect


def sleeping_step(
    name: str, source: str, data: str, seconds: float, after: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "type": "Training",
        "arguments": {
            "entry_point": "nap.py",
            "source_uri": source,
            "hyperparameters": {"seconds": seconds},
            "channels": {"train": data},
        },
        "depends_on": [after] if after else [],
    }


def test_the_execution_dag_follows_its_steps_live(
    live_server: Any, signed_in: Any, tmp_path: Path
) -> None:
    data = live_server.home.parent / f"nap-{uuid.uuid4().hex[:6]}.csv"
    data.write_text("x,y\n1,2\n")
    name = f"naps-{uuid.uuid4().hex[:6]}"
    with live_server.http() as http:
        script = b"import sys, time\ntime.sleep(float(sys.argv[sys.argv.index('--seconds') + 1]))\n"
        source = http.post("/api/v1/uploads", files={"file": ("nap.py", script)}).json()["uri"]
        steps = [
            sleeping_step("short", source, str(data), 1),
            sleeping_step("long", source, str(data), 6, after="short"),
        ]
        assert (
            http.put(f"/api/v1/pipelines/{name}", json={"definition": {"steps": steps}}).status_code
            == 200
        )
        execution = http.post(f"/api/v1/pipelines/{name}/executions", json={}).json()["id"]

    page = signed_in(live_server, f"/console/pipeline-executions/{execution}")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    short = page.locator('#execution-dag [data-node-id="short"]')
    long = page.locator('#execution-dag [data-node-id="long"]')
    expect(long).to_have_class(re.compile("status-Executing"), timeout=60_000)
    expect(short).to_have_class(re.compile("status-Succeeded"))
    assert page.evaluate("window.loadedOnce === true")  # recoloured in place
    expect(page.locator("#steps tr[data-step=long] .step-status")).to_have_text("Executing")

    expect(page.locator("#status")).to_have_text("Succeeded", timeout=60_000)
    expect(long).to_have_class(re.compile("status-Succeeded"))
    expect(page.locator("#steps tr[data-step=long] a")).to_have_attribute(
        "href", re.compile("/console/training-jobs/")
    )

    page.click(f"text={name}")
    expect(page.locator("#pipeline-name")).to_have_text(name)
    expect(page.locator("#executions")).to_contain_text(execution)
    expect(page.locator('#pipeline-dag [data-node-id="long"]')).to_have_class(
        re.compile("status-Succeeded")
    )
