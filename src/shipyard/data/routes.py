"""HTTP routes of the data room: datasets and uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.data import service
from shipyard.data.schemas import DatasetOut, TableFormat, UploadOut

router = APIRouter(prefix="/api/v1", tags=["data"])


@router.post("/datasets", status_code=status.HTTP_201_CREATED, response_model=DatasetOut)
def create_dataset(
    context: ContextDep,
    authorize: AuthorizeDep,
    name: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    format: Annotated[TableFormat | None, Form()] = None,
) -> DatasetOut:
    principal = authorize("data:CreateDataset", srn("dataset", name))
    with context.db.session_scope() as session:
        dataset = service.create_dataset(
            session,
            context.store,
            name=name,
            filename=file.filename,
            stream=file.file,
            declared_format=format,
            owner=principal.name,
            scratch=context.settings.home / "tmp",
        )
        return DatasetOut.model_validate(dataset, from_attributes=True)


@router.get("/datasets", response_model=ListResponse[DatasetOut])
def list_datasets(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[DatasetOut]:
    authorize("data:ListDatasets", srn("dataset", "*"))
    with context.db.session_scope() as session:
        rows = service.list_datasets(session, limit=page.limit, offset=page.offset)
        items = [DatasetOut.model_validate(r, from_attributes=True) for r in rows]
    return ListResponse[DatasetOut](items=items, next_token=page.next_token(len(items)))


@router.get("/datasets/{name}", response_model=DatasetOut)
def describe_dataset(name: str, context: ContextDep, authorize: AuthorizeDep) -> DatasetOut:
    authorize("data:DescribeDataset", srn("dataset", name))
    with context.db.session_scope() as session:
        return DatasetOut.model_validate(service.get_dataset(session, name), from_attributes=True)


@router.delete("/datasets/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("data:DeleteDataset", srn("dataset", name))
    with context.db.session_scope() as session:
        service.delete_dataset(session, context.store, name)


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadOut)
def create_upload(
    context: ContextDep, authorize: AuthorizeDep, file: Annotated[UploadFile, File()]
) -> UploadOut:
    authorize("data:CreateUpload", srn("upload", "*"))
    return service.store_upload(
        context.store,
        filename=file.filename,
        stream=file.file,
        scratch=context.settings.home / "tmp",
    )
