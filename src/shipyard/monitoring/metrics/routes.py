"""The metrics store's routes: PutMetricData, ListMetrics, GetMetricStatistics, GetMetricData."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shipyard.core.errors import ValidationError
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.monitoring.metrics import service
from shipyard.monitoring.metrics.schemas import (
    GetMetricDataIn,
    GetMetricDataOut,
    GetMetricStatisticsIn,
    GetMetricStatisticsOut,
    MetricOut,
    PutMetricDataIn,
    PutMetricDataOut,
)

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
NAMESPACE_KIND = "metric-namespace"


@router.post("/metrics", response_model=PutMetricDataOut)
def put_metric_data(
    request: PutMetricDataIn, context: ContextDep, authorize: AuthorizeDep
) -> PutMetricDataOut:
    service.validate_namespace(request.namespace)
    authorize("monitoring:PutMetricData", srn(NAMESPACE_KIND, request.namespace))
    with context.db.session_scope() as session:
        stored = service.put_metric_data(session, request.namespace, request.metric_data)
    return PutMetricDataOut(stored=stored)


@router.get("/metrics", response_model=ListResponse[MetricOut])
def list_metrics(
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
    metric_name: Annotated[str | None, Query(max_length=255)] = None,
    dimension: Annotated[list[str] | None, Query(description="NAME=VALUE, or NAME for any")] = None,
) -> ListResponse[MetricOut]:
    authorize("monitoring:ListMetrics", srn(NAMESPACE_KIND, namespace or "*"))
    dimensions = parse_dimension_filters(dimension or [])
    with context.db.session_scope() as session:
        items = service.list_metrics(
            session, namespace, metric_name, dimensions, limit=page.limit, offset=page.offset
        )
    return ListResponse[MetricOut](items=items, next_token=page.next_token(len(items)))


@router.post("/metrics/statistics", response_model=GetMetricStatisticsOut)
def get_metric_statistics(
    request: GetMetricStatisticsIn, context: ContextDep, authorize: AuthorizeDep
) -> GetMetricStatisticsOut:
    service.validate_namespace(request.namespace, platform=True)
    authorize("monitoring:GetMetricStatistics", srn(NAMESPACE_KIND, request.namespace))
    with context.db.session_scope() as session:
        datapoints = service.get_metric_statistics(
            session,
            namespace=request.namespace,
            metric_name=request.metric_name,
            dimensions=request.dimensions,
            start_time=request.start_time,
            end_time=request.end_time,
            period=request.period,
            statistics=request.statistics,
            unit=request.unit,
        )
    return GetMetricStatisticsOut(label=request.metric_name, datapoints=datapoints)


@router.post("/metrics/data", response_model=GetMetricDataOut)
def get_metric_data(
    request: GetMetricDataIn, context: ContextDep, authorize: AuthorizeDep
) -> GetMetricDataOut:
    for query in request.metric_data_queries:
        namespace = query.metric_stat.metric.namespace
        service.validate_namespace(namespace, platform=True)
        authorize("monitoring:GetMetricData", srn(NAMESPACE_KIND, namespace))
    with context.db.session_scope() as session:
        results = service.get_metric_data(
            session, request.metric_data_queries, request.start_time, request.end_time
        )
    return GetMetricDataOut(metric_data_results=results)


def parse_dimension_filters(filters: list[str]) -> dict[str, str | None]:
    """``NAME=VALUE`` (that value) or ``NAME`` (any value) filters of ListMetrics."""
    parsed: dict[str, str | None] = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not name:
            raise ValidationError(f"{item!r} is not NAME or NAME=VALUE", "dimension")
        parsed[name] = value if sep else None
    return parsed
