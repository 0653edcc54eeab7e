"""Request and response types of the metrics store, in CloudWatch's shape and words."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_DATA_PER_PUT = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
MAX_QUERIES = 100
NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9.\-_/#:]{1,255}$")
RESERVED_NAMESPACE_PREFIX = "Shipyard/"

Unit = Literal[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
]


class StatisticSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_count: float = Field(gt=0)
    sum: float
    minimum: float
    maximum: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not all(math.isfinite(v) for v in (self.sum, self.minimum, self.maximum)):
            raise ValueError("sum, minimum and maximum must be finite numbers")
        if self.minimum > self.maximum:
            raise ValueError("minimum must not be greater than maximum")
        return self


class MetricDatum(BaseModel):
    """One datum: a value, values with counts, or a statistic set, at a time."""

    model_config = ConfigDict(extra="forbid")

    metric_name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    values: list[float] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)
    counts: list[float] | None = Field(default=None, min_length=1, max_length=MAX_VALUES)
    statistic_values: StatisticSet | None = None
    unit: Unit = "None"
    timestamp: datetime | None = None
    """Default: now. At most two weeks old and two hours ahead."""
    storage_resolution: Literal[1, 60] = 60

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, dimensions: dict[str, str]) -> dict[str, str]:
        if len(dimensions) > MAX_DIMENSIONS:
            raise ValueError(f"at most {MAX_DIMENSIONS} dimensions")
        for name, value in dimensions.items():
            if not 1 <= len(name) <= 255 or not 1 <= len(value) <= 1024:
                raise ValueError("a dimension's name is 1-255 characters, its value 1-1024")
        return dimensions

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [x is not None for x in (self.value, self.values, self.statistic_values)]
        if sum(given) != 1:
            raise ValueError("give exactly one of value, values (with counts) or statistic_values")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError("value must be a finite number")
        if self.values is not None:
            if not all(math.isfinite(v) for v in self.values):
                raise ValueError("values must be finite numbers")
            if self.counts is not None and len(self.counts) != len(self.values):
                raise ValueError("counts must have one entry per value")
            if self.counts is not None and not all(
                c >= 0 and math.isfinite(c) for c in self.counts
            ):
                raise ValueError("counts must be finite and not negative")
        elif self.counts is not None:
            raise ValueError("counts go with values")
        return self


class PutMetricDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str
    metric_data: list[MetricDatum] = Field(min_length=1, max_length=MAX_DATA_PER_PUT)


class PutMetricDataOut(BaseModel):
    stored: int


class MetricOut(BaseModel):
    namespace: str
    metric_name: str
    dimensions: dict[str, str]


class GetMetricStatisticsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str
    metric_name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict)
    start_time: datetime
    end_time: datetime
    period: int
    statistics: list[str] = Field(min_length=1, max_length=10)
    unit: Unit | None = None


class StatisticDatapoint(BaseModel):
    timestamp: datetime
    """The start of the period, aligned to the period."""
    sample_count: float
    values: dict[str, float]
    unit: str | None = None


_STATISTIC_DATAPOINT_FIELDS = set(StatisticDatapoint.model_fields)
_new_object = object.__new__
_set_slot = object.__setattr__


def new_statistic_datapoint(
    timestamp: datetime, sample_count: float, values: dict[str, float], unit: str | None
) -> StatisticDatapoint:
    """What ``StatisticDatapoint.model_construct(...)`` makes (checked values, no validation),
    without its generic loop over the fields: a 24 h query at 1 minute makes 1,440."""
    point = _new_object(StatisticDatapoint)
    _set_slot(
        point,
        "__dict__",
        {"timestamp": timestamp, "sample_count": sample_count, "values": values, "unit": unit},
    )
    _set_slot(point, "__pydantic_fields_set__", _STATISTIC_DATAPOINT_FIELDS.copy())
    _set_slot(point, "__pydantic_extra__", None)
    _set_slot(point, "__pydantic_private__", None)
    return point


class GetMetricStatisticsOut(BaseModel):
    label: str
    datapoints: list[StatisticDatapoint]


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str
    metric_name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Metric
    period: int
    stat: str
    unit: Unit | None = None


class MetricDataQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-zA-Z0-9_]{0,254}$")
    metric_stat: MetricStat
    label: str | None = None
    return_data: bool = True


class GetMetricDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric_data_queries: list[MetricDataQuery] = Field(min_length=1, max_length=MAX_QUERIES)
    start_time: datetime
    end_time: datetime


class MetricDataResult(BaseModel):
    id: str
    label: str
    timestamps: list[datetime]
    values: list[float]
    status_code: Literal["Complete"] = "Complete"


class GetMetricDataOut(BaseModel):
    metric_data_results: list[MetricDataResult]
