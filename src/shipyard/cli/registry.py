"""``shipyard registry groups|packages|card ...``: the model registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    pairs,
    print_json,
    print_record,
    session,
    show_items,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.registry import ModelPackage, ModelPackageGroup

app = typer.Typer(
    help="The model registry: package groups, model packages, approvals.", no_args_is_help=True
)
groups = typer.Typer(help="Model package groups: the versions of one model.", no_args_is_help=True)
packages = typer.Typer(
    help="Model packages: register, list, approve, reject.", no_args_is_help=True
)
card = typer.Typer(help="Model cards: intended use, risk, caveats.", no_args_is_help=True)
app.add_typer(groups, name="groups")
app.add_typer(packages, name="packages")
app.add_typer(card, name="card")

GroupName = Annotated[str, typer.Argument(help="Model package group name.", show_default=False)]
Version = Annotated[int, typer.Argument(help="Package version.", show_default=False)]
GROUP_FIELDS = ("name", "description", "tags", "package_count", "latest_version",
                "latest_approved_version", "owner", "created_at")  # fmt: skip
GROUP_COLUMNS = ("name", "package_count", "latest_version", "latest_approved_version", "created_at")
PACKAGE_FIELDS = ("model_package_name", "approval_status", "model_data_uri", "model_sha256",
                  "model_format", "training_job_name", "model_metrics", "description",
                  "created_by", "created_at")  # fmt: skip
PACKAGE_COLUMNS = ("version", "approval_status", "model_format", "training_job_name", "created_at")
CARD_FIELDS = ("intended_use", "risk_rating", "training_data", "metrics",
               "caveats_and_limitations", "ethical_considerations",
               "updated_by", "updated_at")  # fmt: skip


# ---- groups -------------------------------------------------------------------------------
@groups.command("create")
@handle_errors
def create_group(
    name: GroupName,
    description: Annotated[str, typer.Option(help="What the group's model is for.")] = "",
    tag: Annotated[list[str], typer.Option("--tag", help="KEY=VALUE, repeatable.")] = [],  # noqa: B006
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a model package group."""
    group = ModelPackageGroup.create(
        name, description=description, tags=pairs(tag, "--tag"), session=session(url, token)
    )
    _show(group.describe(), GROUP_FIELDS, json_output)


@groups.command("list")
@handle_errors
def list_groups(
    json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """List model package groups, newest first."""
    items = ModelPackageGroup.list_groups(session(url, token))
    show_items(items, GROUP_COLUMNS, "Model package groups", json_output)


@groups.command("describe")
@handle_errors
def describe_group(
    name: GroupName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a model package group."""
    _show(ModelPackageGroup(name, session(url, token)).describe(), GROUP_FIELDS, json_output)


@groups.command("delete")
@handle_errors
def delete_group(name: GroupName, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete a group whose packages are all Rejected and unused by any model."""
    ModelPackageGroup(name, session(url, token)).delete()
    console.print(f"deleted model package group {name}")


# ---- packages -----------------------------------------------------------------------------
@packages.command("register")
@handle_errors
def register(
    group: GroupName,
    training_job: Annotated[str | None, typer.Option(help="A Completed training job.")] = None,
    tuning_job: Annotated[
        str | None, typer.Option(help="A tuning job (its best training job by default).")
    ] = None,
    model_file: Annotated[
        str | None, typer.Option(help="A model file to upload, or its shipyard:// URI.")
    ] = None,
    model_format: Annotated[
        str | None, typer.Option(help="xgboost, lightgbm, skops, onnx or pickle.")
    ] = None,
    feature: Annotated[
        list[str], typer.Option("--feature", help="Feature name, in order; repeatable.")
    ] = [],  # noqa: B006
    problem_type: Annotated[
        str | None,
        typer.Option(help="binary_classification, multiclass_classification, regression."),
    ] = None,
    class_label: Annotated[
        list[str], typer.Option("--class", help="Class label, in probability order; repeatable.")
    ] = [],  # noqa: B006
    metric: Annotated[list[str], typer.Option("--metric", help="NAME=VALUE, repeatable.")] = [],  # noqa: B006
    evaluation_report: Annotated[
        str | None, typer.Option(help="A JSON file, or its shipyard:// URI.")
    ] = None,
    approval_status: Annotated[
        str, typer.Option(help="PendingManualApproval, Approved or Rejected.")
    ] = "PendingManualApproval",
    description: Annotated[str, typer.Option(help="What changed in this version.")] = "",
    trust_pickle: Annotated[
        bool, typer.Option(help="Let Shipyard load this pickle (registry:TrustPickle).")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Register the next version of GROUP: a training job's model, or a model file."""
    metrics = {key: _number(value, "--metric") for key, value in pairs(metric, "--metric").items()}
    package = ModelPackageGroup(group, session(url, token)).register(
        training_job_name=training_job,
        tuning_job_name=tuning_job,
        model_data=model_file,
        model_format=model_format,
        feature_names=feature or None,
        problem_type=problem_type,
        classes=[_label(value) for value in class_label] or None,
        model_metrics=metrics,
        evaluation_report=evaluation_report,
        approval_status=approval_status,
        description=description,
        trust_pickle=trust_pickle,
    )
    _show(package.describe(), PACKAGE_FIELDS, json_output)


@packages.command("list")
@handle_errors
def list_packages(
    group: GroupName,
    status: Annotated[str | None, typer.Option(help="Only packages of this status.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the versions of GROUP, newest first."""
    client = session(url, token)
    items = client.list_all(
        f"/api/v1/model-package-groups/{group}/packages", approval_status=status
    )
    show_items(items, PACKAGE_COLUMNS, f"Model packages of {group}", json_output)


@packages.command("describe")
@handle_errors
def describe_package(
    group: GroupName,
    version: Version,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show version VERSION of GROUP."""
    _show(ModelPackage(group, version, session(url, token)).describe(), PACKAGE_FIELDS, json_output)


@packages.command("approve")
@handle_errors
def approve(
    group: GroupName,
    version: Version,
    reason: Annotated[str | None, typer.Option(help="Why it may be deployed.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Approve a package for deployment."""
    package = ModelPackage(group, version, session(url, token)).approve(reason)
    _show(package, PACKAGE_FIELDS, json_output)


@packages.command("reject")
@handle_errors
def reject(
    group: GroupName,
    version: Version,
    reason: Annotated[str, typer.Option(help="Why it may not be deployed (required).")],
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Reject a package."""
    package = ModelPackage(group, version, session(url, token)).reject(reason)
    _show(package, PACKAGE_FIELDS, json_output)


# ---- model cards --------------------------------------------------------------------------
@card.command("get")
@handle_errors
def get_card(
    group: GroupName,
    version: Version,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a package's model card."""
    _show(ModelPackage(group, version, session(url, token)).model_card(), CARD_FIELDS, json_output)


@card.command("set")
@handle_errors
def set_card(
    group: GroupName,
    version: Version,
    file: Annotated[
        Path | None, typer.Option(help="A JSON model card; the options below override it.")
    ] = None,
    intended_use: Annotated[str | None, typer.Option(help="What the model is for.")] = None,
    risk_rating: Annotated[str | None, typer.Option(help="unknown, low, medium or high.")] = None,
    training_data: Annotated[
        str | None, typer.Option(help="The training data (default: the job's channels).")
    ] = None,
    caveats: Annotated[str | None, typer.Option(help="Caveats and limitations.")] = None,
    ethical_considerations: Annotated[
        str | None, typer.Option(help="Ethical considerations.")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Replace a package's model card."""
    document: dict[str, Any] = json.loads(file.read_text()) if file is not None else {}
    if not isinstance(document, dict):
        raise ValidationError("must hold a JSON object", "--file")
    given = {
        "intended_use": intended_use,
        "risk_rating": risk_rating,
        "training_data": {"description": training_data} if training_data is not None else None,
        "caveats_and_limitations": caveats,
        "ethical_considerations": ethical_considerations,
    }
    document |= {key: value for key, value in given.items() if value is not None}
    result = ModelPackage(group, version, session(url, token)).set_model_card(**document)
    _show(result, CARD_FIELDS, json_output)


def _show(document: dict[str, Any], fields: tuple[str, ...], json_output: bool) -> None:
    print_json(document) if json_output else print_record(document, fields)


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"expected a number, got {text!r}", option) from None


def _label(text: str) -> Any:
    """A class label: an integer when it reads as one (``0``, ``1``), else the text."""
    try:
        return int(text)
    except ValueError:
        return text
