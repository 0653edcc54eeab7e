"""The ``shipyard`` command through its real entry point, against a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from cli_testing import assert_one_line_error, shipyard_cli
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from training_testing import unique
from typer.testing import CliRunner

from shipyard.cli.main import app


def write_split(live_server, prefix: str, frame: Any) -> Path:
    """A fresh directory inside the live server's data root, with a 70/30 split of ``frame``."""
    directory = live_server.home.parent / unique(prefix)
    directory.mkdir()
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    train.to_csv(directory / "train.csv", index=False)
    validation.to_csv(directory / "validation.csv", index=False)
    return directory


@pytest.fixture
def data_dir(live_server) -> Path:
    """The breast-cancer split, inside the live server's data root."""
    return write_split(live_server, "cli-data", load_breast_cancer(as_frame=True).frame)


def test_train_deploy_invoke_delete_with_the_cli(live_server, data_dir):
    env = live_server.env
    job = unique("cli-xgb")
    created = shipyard_cli(
        "training", "create",
        "--name", job,
        "--algorithm", "xgboost",
        "--target", "target",
        "--channel", f"train={data_dir / 'train.csv'}",
        "--channel", f"validation={data_dir / 'validation.csv'}",
        "--hp", "num_round=30",
        "--hp", "max_depth=3",
        "--json",
        env=env,
    )  # fmt: skip
    description = json.loads(created.stdout)
    assert description["name"] == job
    assert description["status"] == "Completed", description["failure_reason"]
    assert description["hyperparameters"]["num_round"] == 30
    assert description["channels"]["train"]["uri"].startswith("shipyard://datasets/")

    listed = json.loads(shipyard_cli("training", "list", "--json", env=env).stdout)
    assert job in [item["name"] for item in listed]
    described = json.loads(shipyard_cli("training", "describe", job, "--json", env=env).stdout)
    assert described["final_metrics"]["validation:auc"] >= 0.95
    assert "Training xgboost" in shipyard_cli("training", "logs", job, env=env).stdout

    model = unique("cli-model")
    made = json.loads(
        shipyard_cli("models", "create", model, "--training-job", job, "--json", env=env).stdout
    )
    assert made["algorithm"] == "xgboost"
    endpoint = unique("cli-endpoint")
    deployed = json.loads(
        shipyard_cli("endpoints", "create", endpoint, "--model", model, "--json", env=env).stdout
    )
    assert deployed["status"] == "InService"
    ab = unique("cli-ab")
    split = json.loads(
        shipyard_cli(
            "endpoints", "create", ab, "--variant", f"a={model}:0.7", "--variant",
            f"b={model}:0.3", "--json", env=env,
        ).stdout
    )  # fmt: skip
    assert [(v["variant_name"], v["initial_weight"]) for v in split["production_variants"]] == [
        ("a", 0.7),
        ("b", 0.3),
    ]
    shipyard_cli("endpoints", "delete", ab, env=env)
    shadow_commands(live_server, model, first_row(data_dir))

    row = first_row(data_dir)
    answer = shipyard_cli("endpoints", "invoke", endpoint, "--body", json.dumps([row]), env=env)
    result = json.loads(answer.stdout)
    assert len(result["predictions"]) == 1 and len(result["probabilities"][0]) == 2
    csv_row = ",".join(str(value) for value in row.values())
    from_stdin = shipyard_cli(
        "endpoints", "invoke", endpoint, "--body", "-", "--content-type", "text/csv",
        env=env, stdin=csv_row + "\n",
    )  # fmt: skip
    assert json.loads(from_stdin.stdout) == result
    wrong = shipyard_cli("endpoints", "invoke", endpoint, "--body", "[[1, 2]]", env=env, expect=1)
    assert_one_line_error(wrong, "ValidationError", "instances")

    in_process_commands(live_server, job, model, endpoint, data_dir, result)

    shipyard_cli("endpoints", "delete", endpoint, env=env)
    gone = shipyard_cli("endpoints", "describe", endpoint, env=env, expect=1)
    assert_one_line_error(gone, "NotFound", endpoint)


def shadow_commands(live_server: Any, model: str, row: dict[str, Any]) -> None:
    """`endpoints shadow-report` and `endpoints promote-shadow` on an endpoint whose shadow
    is the same model under another name (so every answer agrees)."""
    env = live_server.env
    name = unique("cli-shadow")
    with live_server.http() as http:
        config = {
            "name": name,
            "production_variants": [{"variant_name": "champion", "model_name": model}],
            "shadow_production_variants": [{"variant_name": "twin", "model_name": model}],
        }
        assert http.post("/api/v1/endpoint-configs", json=config).status_code == 201
        body = {"name": name, "endpoint_config_name": name}
        assert http.post("/api/v1/endpoints", json=body).status_code == 201
        live_server.wait_for_status(f"/api/v1/endpoints/{name}", ("InService",))
        for _ in range(5):
            answer = http.post(f"/api/v1/endpoints/{name}/invocations", json=[row])
            assert answer.headers["X-Shipyard-Variant"] == "champion"

    def tallied() -> dict[str, Any] | None:
        found = json.loads(
            shipyard_cli("endpoints", "shadow-report", name, "--json", env=env).stdout
        )
        shadows = found["shadows"]
        return shadows[0] if shadows and shadows[0]["requests"] == 5 else None

    twin = live_server.wait_for(tallied, "the shadow's 5 copies tallied", 30)
    assert (twin["shadow_variant"], twin["agreement_rate"]) == ("twin", 1.0)
    assert "twin" in shipyard_cli("endpoints", "shadow-report", name, env=env).stdout
    promoted = shipyard_cli(
        "endpoints", "promote-shadow", name, "twin", "--config", f"{name}-2", "--json", env=env
    )
    described = json.loads(promoted.stdout)
    assert described["status"] == "InService"
    assert [v["variant_name"] for v in described["production_variants"]] == ["twin"]
    rollout_commands(live_server, name, original_config=name)
    shipyard_cli("endpoints", "delete", name, env=env)


def rollout_commands(live_server: Any, name: str, original_config: str) -> None:
    """`endpoints update` by a canary without waits (it completes), `endpoints rollouts`
    lists it after the promotion's, `endpoints rollback` goes back to the promoted config."""
    env = live_server.env
    updated = shipyard_cli(
        "endpoints", "update", name, "--config", original_config, "--canary", "20",
        "--json", env=env,
    )  # fmt: skip
    rollout = json.loads(updated.stdout)
    assert (rollout["status"], rollout["steps"]) == ("Completed", [20.0, 100.0])
    listed = json.loads(shipyard_cli("endpoints", "rollouts", name, "--json", env=env).stdout)
    assert [r["to_endpoint_config_name"] for r in listed] == [original_config, f"{name}-2"]
    assert "Completed" in shipyard_cli("endpoints", "rollouts", name, env=env).stdout
    back = json.loads(shipyard_cli("endpoints", "rollback", name, "--json", env=env).stdout)
    assert back["endpoint_config_name"] == f"{name}-2"
    live_server.wait_for_status(f"/api/v1/endpoints/{name}", ("InService",))
    refused = shipyard_cli(
        "endpoints", "update", name, "--config", original_config, "--canary", "20",
        "--linear", "10", env=env, expect=1,
    )  # fmt: skip
    assert_one_line_error(refused, "ValidationError", "--canary")


def in_process_commands(
    live_server: Any, job: str, model: str, endpoint: str, data_dir: Path, result: Any
) -> None:
    """The other commands, run in this process (quicker) on what the journey made."""
    runner = CliRunner()
    env = {"SHIPYARD_URL": live_server.url, "SHIPYARD_TOKEN": live_server.token, "COLUMNS": "250"}

    def run(*args: str, code: int = 0) -> str:
        outcome = runner.invoke(app, list(args), env=env)
        assert outcome.exit_code == code, (args, outcome.output)
        return outcome.output

    assert job in run("training", "list", "--status", "Completed")
    assert "Completed" in run("training", "describe", job)
    points = json.loads(run("training", "metrics", job, "--name", "validation:auc", "--json"))
    assert {point["name"] for point in points} == {"validation:auc"}
    assert "validation:auc" in run("training", "metrics", job)
    assert "error (InvalidState)" in run("training", "stop", job, code=1)
    assert model in run("models", "list")
    assert json.loads(run("models", "describe", model, "--json"))["name"] == model
    assert "xgboost" in run("models", "describe", model)
    assert endpoint in run("endpoints", "list")
    assert "InService" in run("endpoints", "describe", endpoint)
    body_file = data_dir / "request.json"
    body_file.write_text(json.dumps({"instances": [list(first_row(data_dir).values())]}))
    assert json.loads(run("endpoints", "invoke", endpoint, "--file", str(body_file))) == result


def first_row(data_dir: Path) -> dict[str, Any]:
    """The first validation row's features, as a JSON record."""
    header, first = (data_dir / "validation.csv").read_text().splitlines()[:2]
    names, values = header.split(","), [float(v) for v in first.split(",")]
    return {n: v for n, v in zip(names, values, strict=True) if n != "target"}


def test_bad_requests_exit_1_with_one_line(live_server, data_dir):
    env = live_server.env
    train = f"train={data_dir / 'train.csv'}"
    unknown = shipyard_cli(
        "training", "create", "--algorithm", "gradient-magic", "--target", "target",
        "--channel", train, env=env, expect=1,
    )  # fmt: skip
    assert_one_line_error(unknown, "ValidationError", "algorithm", "gradient-magic")

    # a long message stays on one line, however narrow the terminal
    no_column = shipyard_cli(
        "training", "create", "--algorithm", "xgboost", "--target", "diagnosis", "--channel", train,
        env={**env, "COLUMNS": "40"}, expect=1,
    )  # fmt: skip
    assert_one_line_error(no_column, "ValidationError", "target", "diagnosis", "mean radius")

    no_token = {k: v for k, v in env.items() if k != "SHIPYARD_TOKEN"}
    assert_one_line_error(
        shipyard_cli("training", "list", env=no_token, expect=1), "InternalError", "SHIPYARD_TOKEN"
    )

    # the same handling for every command; in this process, which is quicker
    cases: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = [
        (("training", "create", "--channel", "train"), "ValidationError", ("--channel",)),
        (("training", "create", "--algorithm", "xgboost", "--channel", f"train={data_dir}/no.csv"),
         "ValidationError", ("no.csv",)),
        (("training", "create", "--algorithm", "xgboost", "--target", "target", "--channel", train,
          "--hp", "max_depth=-1"), "ValidationError", ("hyperparameters.max_depth",)),
        (("training", "describe", "no-such-job"), "NotFound", ("no-such-job",)),
        (("training", "logs", "../etc"), "ValidationError", ("name", "../etc")),
        (("training", "stop", "no-such-job"), "NotFound", ("no-such-job",)),
        (("models", "describe", "../etc"), "ValidationError", ("name",)),
        (("models", "create", unique("m"), "--training-job", "no-such-job"),
         "ValidationError", ("training_job_name",)),
        (("endpoints", "create", unique("e"), "--model", "no-such-model"),
         "ValidationError", ("no-such-model",)),
        (("endpoints", "create", unique("e")), "ValidationError", ("--model", "--variant")),
        (("endpoints", "create", unique("e"), "--variant", "a=m:heavy"),
         "ValidationError", ("--variant", "not a number")),
        (("endpoints", "create", unique("e"), "--variant", "nameless"),
         "ValidationError", ("VARIANT=MODEL:WEIGHT",)),
        (("endpoints", "delete", "no-such-endpoint"), "NotFound", ("no-such-endpoint",)),
        (("endpoints", "invoke", "no-such-endpoint"), "ValidationError", ("body",)),
        (("endpoints", "invoke", "no-such-endpoint", "--file", f"{data_dir}/missing.json"),
         "FileNotFoundError", ("missing.json",)),
        (("training", "list", "--url", "http://127.0.0.1:9"), "InternalError", ("cannot reach",)),
        (("training", "list", "--token", "sy_0123456789abcdef_wrong"), "Unauthenticated", ()),
    ]  # fmt: skip
    runner = CliRunner()
    plain_env = {"SHIPYARD_URL": live_server.url, "SHIPYARD_TOKEN": live_server.token}
    for args, code, needles in cases:
        outcome = runner.invoke(app, list(args), env=plain_env)
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit), args
        failed = subprocess.CompletedProcess(
            args, outcome.exit_code, outcome.stdout, outcome.stderr
        )
        assert_one_line_error(failed, code, *needles)


def walk(command: Any, path: tuple[str, ...] = ("shipyard",)) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        found += walk(sub, (*path, name))
    return found


def test_every_command_and_parameter_has_help():
    commands = walk(typer.main.get_command(app))
    names = {" ".join(path) for path, _ in commands}
    assert {
        "shipyard training create",
        "shipyard training logs",
        "shipyard models create",
        "shipyard endpoints invoke",
        "shipyard up",
        "shipyard quickstart",
    } <= names
    for path, command in commands:
        assert (command.help or "").strip(), f"{' '.join(path)} has no help"
        for parameter in command.params:
            assert (getattr(parameter, "help", None) or "").strip(), (
                f"{' '.join(path)}: {parameter.name} has no help"
            )


def test_the_installed_console_script_answers_help():
    script = Path(sys.executable).parent / "shipyard"
    assert script.is_file() and os.access(script, os.X_OK), script
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    for room in ("training", "models", "endpoints", "quickstart", "up"):
        assert room in completed.stdout
    sub = subprocess.run(
        [str(script), "training", "create", "--help"], capture_output=True, text=True, timeout=60
    )
    assert sub.returncode == 0, sub.stderr
    assert "--channel" in sub.stdout and "Traceback" not in sub.stderr


CLI_SCRIPT = """
import json, os, sys
from shipyard.training import log_metric

hps = json.loads(os.environ["SHIPYARD_HPS"])
print("argv", sys.argv[1:])
for epoch in range(int(hps["epochs"])):
    print(f"epoch {epoch}: loss={1.0 / (epoch + 2)}")
    log_metric("val_acc", 0.5 + epoch / 10, step=epoch)
open(os.path.join(os.environ["SHIPYARD_MODEL_DIR"], "model.txt"), "w").write("ok")
"""


def test_linear_learner_regression_with_the_cli(live_server, tmp_path):
    from sklearn.datasets import load_diabetes

    directory = write_split(live_server, "cli-diabetes", load_diabetes(as_frame=True).frame)
    created = shipyard_cli(
        "training", "create",
        "--algorithm", "linear-learner",
        "--target", "target",
        "--hp", "predictor_type=regressor",
        "--channel", f"train={directory / 'train.csv'}",
        "--channel", f"validation={directory / 'validation.csv'}",
        "--json",
        env=live_server.env,
    )  # fmt: skip
    metrics = json.loads(created.stdout)["final_metrics"]
    assert {"train:rmse", "validation:rmse", "validation:r2"} <= set(metrics)
    assert metrics["validation:r2"] > 0.3


def test_script_mode_with_the_cli_reports_regex_and_logged_metrics(live_server, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "train.py").write_text(CLI_SCRIPT)
    directory = live_server.home.parent / unique("cli-script")
    directory.mkdir()
    load_breast_cancer(as_frame=True).frame.head(50).to_csv(directory / "train.csv", index=False)
    job = unique("cli-script")
    created = shipyard_cli(
        "training", "create",
        "--name", job,
        "--entry-point", "train.py",
        "--source-dir", str(source),
        "--channel", f"train={directory / 'train.csv'}",
        "--hp", "epochs=3",
        "--metric", "train:loss=loss=([0-9.]+)",
        "--json",
        env=live_server.env,
    )  # fmt: skip
    description = json.loads(created.stdout)
    assert description["status"] == "Completed", description["failure_reason"]
    assert description["final_metrics"]["train:loss"] == pytest.approx(0.25)
    assert description["final_metrics"]["val_acc"] == pytest.approx(0.7)
    points = json.loads(
        shipyard_cli("training", "metrics", job, "--json", env=live_server.env).stdout
    )
    steps = {(p["name"], p["step"]) for p in points}
    assert {("train:loss", 0), ("train:loss", 2), ("val_acc", 0), ("val_acc", 2)} <= steps
    assert "--epochs" in shipyard_cli("training", "logs", job, env=live_server.env).stdout


def test_datasets_upload_list_describe_delete_with_the_cli(live_server, data_dir):
    env = live_server.env
    name = unique("cli-dataset")
    path = str(data_dir / "train.csv")
    uploaded = json.loads(shipyard_cli("datasets", "upload", name, path, "--json", env=env).stdout)
    assert uploaded["uri"].startswith(f"shipyard://datasets/{name}/")
    assert "target" in uploaded["columns"]
    listed = json.loads(shipyard_cli("datasets", "list", "--json", env=env).stdout)
    assert name in [item["name"] for item in listed]
    described = json.loads(shipyard_cli("datasets", "describe", name, "--json", env=env).stdout)
    assert described["sha256"] == uploaded["sha256"]
    shipyard_cli("datasets", "delete", name, env=env)
    missing = shipyard_cli("datasets", "describe", name, env=env, expect=1)
    assert_one_line_error(missing, "NotFound", name)


def test_admin_key_mints_a_working_key_for_the_server_it_can_reach(live_server):
    env = {**live_server.env, "SHIPYARD_HOME": str(live_server.home)}
    env.pop("SHIPYARD_TOKEN")
    printed = shipyard_cli("admin-key", env=env).stdout.strip()
    assert printed.startswith("sy_") and printed != live_server.token
    listed = shipyard_cli("training", "list", "--json", "--token", printed, env=env)
    assert isinstance(json.loads(listed.stdout), list)


def test_training_plot_writes_a_png_of_the_curves(live_server, data_dir, tmp_path):
    env = live_server.env
    job = unique("cli-plot")
    shipyard_cli(
        "training", "create", "--name", job, "--algorithm", "xgboost", "--target", "target",
        "--channel", f"train={data_dir / 'train.csv'}",
        "--channel", f"validation={data_dir / 'validation.csv'}",
        "--hp", "num_round=15", "--json", env=env,
    )  # fmt: skip
    target = tmp_path / "curves.png"

    done = shipyard_cli("training", "plot", job, "--output", str(target), env=env)

    assert f"wrote {target}" in done.stdout
    from PIL import Image

    with Image.open(target) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 600 and height >= 400  # two panels: auc and logloss
        colours = image.convert("RGB").getcolors(maxcolors=100_000)
        assert colours is not None and len(colours) > 50  # lines and text, not a blank page

    no_curves = unique("cli-no-curves")
    shipyard_cli(
        "training", "create", "--name", no_curves, "--algorithm", "linear-learner",
        "--target", "target", "--channel", f"train={data_dir / 'train.csv'}", "--json", env=env,
    )  # fmt: skip
    refused = shipyard_cli("training", "plot", no_curves, env=env, expect=1)
    assert_one_line_error(refused, "ValidationError", "no per-iteration metrics")
