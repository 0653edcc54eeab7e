"""The console's lineage page over plain HTTP: the graph and the table, links to the
entities' pages, the search box, errors as pages, authorization and escaping."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from console_testing import log_in

from shipyard.lineage import service as lineage
from shipyard.lineage.service import Entity
from shipyard.security.service import create_api_key, ensure_user

SHA = "0123456789abcdef" * 4


@pytest.fixture
def console(api) -> Any:
    assert log_in(api.client, api.token).status_code == 303
    with api.client.app.state.context.db.session_scope() as session:
        data = lineage.dataset(SHA, "shipyard://datasets/bc/0123/train.csv", "bc-train")
        job = Entity("training-job", "bc-job")
        model = Entity("model", "bc-model")
        lineage.record(session, data, job)
        lineage.record(session, job, model, "Produced")
        lineage.record(session, model, Entity("endpoint", "bc-endpoint"), "DeployedAs")
        lineage.record(session, model, Entity("model-package", "bc-group/2"), "Registered")
        lineage.record(session, data, Entity("processing-job", "bc-prep"))
    return api.client


def page(client: Any, **params: str) -> httpx.Response:
    return client.get("/console/lineage", params=params)


def test_the_graph_and_table_of_a_dataset(console):
    response = page(console, entity="bc-train")
    assert response.status_code == 200, response.text
    html = response.text
    svg = html[html.index("<svg") : html.index("</svg>")]
    for node in (
        "endpoint/bc-endpoint",
        "model/bc-model",
        "training-job/bc-job",
        f"dataset/sha256-{SHA}",
        "processing-job/bc-prep",
        "model-package/bc-group/2",
    ):
        assert f'data-node-id="srn:shipyard:{node}"' in svg, node
    for href in (
        "/console/endpoints/bc-endpoint",
        "/console/models/bc-model",
        "/console/training-jobs/bc-job",
        "/console/model-package-groups/bc-group/packages/2",
        "/console/lineage?entity=" + quote("srn:shipyard:processing-job/bc-prep", safe=""),
    ):
        assert f'href="{href}"' in svg, href
    assert 'class="dag-node kind-dataset lineage-root"' in svg
    assert ">bc-train</text>" in svg  # a registered dataset is labelled by its name
    assert svg.count('class="dag-edge"') == 5
    table = html[html.index('id="lineage-entities"') :]
    assert table.count("data-entity-id=") == 6
    assert "sha256: 0123456789abcdef…" in table
    assert 'id="lineage-entity" name="entity" value="bc-train"' in html


def test_an_endpoint_shows_what_it_came_from(console):
    response = page(console, entity="srn:shipyard:endpoint/bc-endpoint")
    assert response.status_code == 200
    svg = response.text[response.text.index("<svg") : response.text.index("</svg>")]
    assert re.findall(r'data-node-id="srn:shipyard:([a-z-]+)/', svg) == [
        "dataset",
        "training-job",
        "model",
        "endpoint",
    ]  # left to right
    assert 'class="dag-node kind-endpoint lineage-root"' in svg


def test_a_bare_name_and_a_direction(console):
    response = page(console, entity="bc-model", direction="upstream")
    assert response.status_code == 200
    svg = response.text[response.text.index("<svg") : response.text.index("</svg>")]
    assert svg.count("data-node-id=") == 3  # the model, its job, the job's dataset
    assert '<option value="upstream" selected>' in response.text


def test_the_landing_page_has_a_search_box_and_what_was_recorded_last(console):
    response = page(console)
    assert response.status_code == 200
    assert 'id="lineage-search"' in response.text and "<svg" not in response.text
    recent = response.text[response.text.index('id="lineage-recent"') :]
    assert recent.count("data-entity-id=") == 6
    assert 'aria-current="page">Lineage</a>' in response.text


@pytest.mark.parametrize(
    ("entity", "status", "needle"),
    [
        ("no-such-thing", 404, "no lineage entity matches &#39;no-such-thing&#39;"),
        ("srn:shipyard:model/gone", 404, "srn:shipyard:model/gone"),
        ("0123456789", 404, "0123456789"),
    ],
)
def test_an_unknown_entity_is_a_404_page_with_the_search_box(console, entity, status, needle):
    response = page(console, entity=entity)
    assert response.status_code == status
    assert 'id="error-message"' in response.text and needle in response.text
    assert 'id="lineage-search"' in response.text


def test_bad_parameters_are_a_400_page(console):
    for params in ({"entity": "bc-model", "direction": "sideways"}, {"entity": "x", "depth": "0"}):
        response = page(console, **params)
        assert response.status_code == 400, params
        assert 'id="error-message"' in response.text


def test_an_entity_the_viewer_may_not_see_is_a_403_page(api, console):
    with api.client.app.state.context.db.session_scope() as session:
        ensure_user(session, "nobody", [])
        key = create_api_key(session, "nobody")
    console.cookies.clear()
    assert log_in(console, key).status_code == 303
    response = page(console, entity="bc-model")
    assert response.status_code == 403
    assert "lineage:GetLineage" in response.text
    landing = page(console)  # the search box, but no list of everything
    assert landing.status_code == 200 and 'id="lineage-recent"' not in landing.text


def test_names_and_properties_are_escaped(api, console):
    evil = "<script>alert(1)</script>"
    with api.client.app.state.context.db.session_scope() as session:
        lineage.record(
            session,
            Entity("training-job", f"x{evil}", {"note": evil}),
            Entity("model", "bc-model"),
            "Produced",
        )
    response = page(console, entity="bc-model")
    assert response.status_code == 200
    assert evil not in response.text
    assert "&lt;script&gt;" in response.text


def test_the_endpoint_and_model_pages_link_to_their_lineage():
    from pathlib import Path

    templates = Path(__file__).parents[2] / "src" / "shipyard" / "console" / "templates"
    for template, kind, variable in (
        ("endpoint.html", "endpoint", "endpoint"),
        ("model.html", "model", "model"),
    ):
        text = (templates / template).read_text()
        assert (
            f'href="/console/lineage?entity=srn:shipyard:{kind}/{{{{ {variable}.name }}}}"' in text
        )
