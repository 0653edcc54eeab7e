"""Uploaded model files: is the content the format it is declared to be, and does it load.

Nothing here deserializes arbitrary objects: each format is recognised by its first bytes
(or, for skops, by the types its schema names, which skops lists without loading them)
and then read by its own library's parser of plain data (XGBoost's JSON/UBJSON, LightGBM's
text, ONNX protobuf, skops with only trusted types). A pickle is recognised and refused
under any other name; as "pickle" it is kept as it is, and never read here.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import UPLOADED_SKOPS_TYPES, ModelManifest, load_model
from shipyard.training.algorithms.dataset import CLASSIFICATION

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
# joblib's compressed pickles: zlib, gzip, bz2, xz, lzma (raw) and lz4 frames
COMPRESSED_MAGIC = (
    b"x\x01",
    b"x\x5e",
    b"x\x9c",
    b"x\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)
LIBRARIES = {"xgboost": "xgboost", "lightgbm": "lightgbm", "skops": "scikit-learn"}
LIBRARIES |= {"onnx": "onnxruntime", "pickle": "scikit-learn"}


@dataclass(frozen=True)
class CheckedFile:
    """What an uploaded file turned out to be: its manifest format and file name."""

    format: str
    file_name: str


def looks_like_pickle(path: Path) -> bool:
    """Whether the file reads like a pickle (any protocol) or a compressed joblib file."""
    with path.open("rb") as handle:
        head = handle.read(16)
        handle.seek(max(path.stat().st_size - 16, 0))
        tail = handle.read(16)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head.startswith(COMPRESSED_MAGIC):
        return True
    return head[:1] in (b"(", b"]", b"}", b"c") and tail.rstrip().endswith(b".")


def check_model_file(path: Path, declared: str, original_name: str, field: str) -> CheckedFile:
    """The format of the uploaded file at ``path``, which must be ``declared``; a
    ValidationError naming ``field`` when its content is another (a pickle above all)."""
    if declared == "pickle":
        return CheckedFile("pickle", "model.pkl")
    if Path(original_name).suffix.lower() in PICKLE_SUFFIXES or looks_like_pickle(path):
        raise ValidationError(
            f"the file is a pickle, not a {declared} model; register it with model_format "
            "'pickle' (it is then never loaded unless registered with trust_pickle)",
            field,
        )
    with path.open("rb") as handle:
        head = handle.read(8)
    if declared == "xgboost":
        if not head.startswith(b"{"):
            raise ValidationError("is not an XGBoost model (JSON or UBJSON)", field)
        if _is_json(path):
            return CheckedFile("xgboost-json", "model.json")
        return CheckedFile("xgboost-ubj", "model.ubj")
    if declared == "lightgbm":
        if not head.startswith(b"tree"):
            raise ValidationError("is not a LightGBM text model (it starts with 'tree')", field)
        return CheckedFile("lightgbm-text", "model.txt")
    if declared == "skops":
        _check_skops(path, field)
        return CheckedFile("skops", "model.skops")
    if declared == "onnx":
        return CheckedFile("onnx", "model.onnx")
    raise ValidationError(f"unknown model format {declared!r}", "model_format")


def _is_json(path: Path) -> bool:
    try:
        document = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict)


def _check_skops(path: Path, field: str) -> None:
    """A skops zip whose types skops trusts, or are on the platform's short allow-list."""
    import skops.io

    if not zipfile.is_zipfile(path):
        raise ValidationError("is not a skops file (a zip archive with a schema.json)", field)
    with zipfile.ZipFile(path) as archive:
        if "schema.json" not in archive.namelist():
            raise ValidationError("is not a skops file (it has no schema.json)", field)
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # a broken archive or schema: the library's own words
        raise ValidationError(f"is not a readable skops file ({_first_line(exc)})", field) from None
    refused = sorted(set(untrusted) - UPLOADED_SKOPS_TYPES)
    if refused:
        raise ValidationError(
            f"the skops file holds types Shipyard does not trust: {', '.join(refused)}", field
        )


def check_loads(model_dir: Path, manifest: ModelManifest) -> None:
    """Load the model directory the platform wrote and ask it for one prediction on a row
    of zeros: the model must take the declared features and answer the declared output.
    Pickles are not loaded (that is the point of them being untrusted)."""
    if manifest.format == "pickle":
        return
    try:
        model = load_model(model_dir)
    except Exception as exc:  # the library's parser refused the bytes
        raise ValidationError(
            f"is not a {manifest.format} model Shipyard can read ({_first_line(exc)})",
            "model_data_uri",
        ) from None
    probe = pd.DataFrame([[0.0] * len(manifest.feature_names)], columns=manifest.feature_names)
    try:
        raw = np.asarray(model.raw_predict(model.model_input(probe)))
    except Exception as exc:
        raise ValidationError(
            f"the model does not answer a row of the {len(manifest.feature_names)} features "
            f"it declares ({_first_line(exc)})",
            "inference_spec.input_schema",
        ) from None
    if manifest.problem_type in CLASSIFICATION and manifest.classes is not None:
        width = raw.shape[1] if raw.ndim == 2 else 1
        if width != len(manifest.classes):
            raise ValidationError(
                f"the model scores {width} classes, not the {len(manifest.classes)} declared",
                "inference_spec.output_schema.classes",
            )
    elif raw.ndim != 1:
        raise ValidationError(
            f"the model answers {raw.shape[1]} values per row, not one {manifest.problem_type} "
            "value",
            "inference_spec.output_schema.problem_type",
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
