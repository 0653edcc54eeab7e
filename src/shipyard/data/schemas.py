"""Request and response types of the data room."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

TableFormat = Literal["csv", "parquet", "libsvm"]


class DatasetOut(BaseModel):
    name: str
    uri: str
    format: TableFormat
    sha256: str
    size_bytes: int
    columns: list[str]
    owner: str
    created_at: datetime


class UploadOut(BaseModel):
    uri: str
    sha256: str
    size_bytes: int
