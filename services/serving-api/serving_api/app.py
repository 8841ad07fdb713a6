"""The FastAPI application: routes, the store pool's lifespan, error answers and metrics.

Build it with `create_app(settings.serving)`; `lakehouse-serving-api serve` runs it under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from lakehouse.logs import get_logger
from lakehouse.settings import ServingSettings

from serving_api.metrics import Metrics, MetricsMiddleware
from serving_api.models import (
    Customer,
    DailyRevenue,
    DailyRevenueRange,
    ErrorDetail,
    Freshness,
    Health,
    Readiness,
    TableFreshness,
)
from serving_api.ranges import RangeProblem, parse_range
from serving_api.store import GOLD_TABLES, Publications, Store, StoreUnavailable

log = get_logger("serving-api")

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# Seconds a client should wait before retrying a 503 (the pool retries connections meanwhile).
RETRY_AFTER_S = 5

DESCRIPTION = """\
Read-only HTTP API over the **serving store**: the gold tables of the CDC lakehouse as last
published (`gold.customer_lifetime`, `gold.daily_revenue`).

* Money (`revenue`, `lifetime_value`) is an exact decimal serialized as a JSON **string**
  (`"1234.50"`), never a float.
* Timestamps are ISO-8601 in UTC with an explicit offset (`2024-05-01T12:00:00+00:00`).
* `/readyz` is 200 only when the store answers and both gold tables have been published.
"""

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorDetail, "description": "the serving store is unreachable or failing"}
}

router = APIRouter()


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def _settings(request: Request) -> ServingSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


@router.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness")
async def healthz() -> Health:
    """The process is alive and serving HTTP. Does not touch the store."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["operations"],
    summary="Readiness",
    responses={503: {"model": Readiness, "description": "store unreachable or not yet published"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    """200 when the store answers as the read-only role and every served gold table has a publication.

    Otherwise 503 saying why: `store_unreachable`, `store_error` or `not_published` (with the tables).
    """
    try:
        pubs = await _store(request).publications()
    except StoreUnavailable as exc:
        _metrics(request).observe_publications(None)
        response.status_code = 503
        return Readiness(
            status="store_unreachable" if not exc.reachable else "store_error",
            store_reachable=exc.reachable,
            published=[],
            unpublished=list(GOLD_TABLES),
            detail=str(exc),
        )
    _metrics(request).observe_publications(pubs)
    published = sorted(p.gold_table for p in pubs.rows if p.gold_table in GOLD_TABLES)
    if pubs.unpublished:
        response.status_code = 503
        return Readiness(
            status="not_published",
            store_reachable=True,
            published=published,
            unpublished=pubs.unpublished,
            detail="not yet published: " + ", ".join(pubs.unpublished),
        )
    return Readiness(
        status="ready",
        store_reachable=True,
        published=published,
        unpublished=[],
        detail="store reachable; every gold table published",
    )


@router.get(
    "/v1/customers/{customer_id}",
    response_model=Customer,
    tags=["data"],
    summary="One customer",
    responses={404: {"model": ErrorDetail, "description": "no such customer"}, **_UNAVAILABLE},
)
async def get_customer(
    request: Request,
    customer_id: Annotated[int, Path(ge=BIGINT_MIN, le=BIGINT_MAX, description="customer id (integer)")],
) -> Customer:
    """A customer's fields and lifetime stats from `gold.customer_lifetime` as last published."""
    row = await _store(request).customer(customer_id)
    if row is None:
        raise HTTPException(404, f"customer {customer_id} not found in the published gold.customer_lifetime")
    return Customer(**row)


@router.get(
    "/v1/revenue/daily",
    response_model=DailyRevenueRange,
    tags=["data"],
    summary="Daily revenue",
    responses=_UNAVAILABLE,
)
async def get_daily_revenue(
    request: Request,
    from_: Annotated[
        str,
        Query(
            alias="from",
            description="first day, YYYY-MM-DD (inclusive)",
            examples=["2024-01-01"],
            json_schema_extra={"format": "date"},
        ),
    ],
    to: Annotated[
        str,
        Query(
            description="last day, YYYY-MM-DD (inclusive)",
            examples=["2024-01-31"],
            json_schema_extra={"format": "date"},
        ),
    ],
) -> DailyRevenueRange:
    """Days of `gold.daily_revenue` in the inclusive range, ascending; days without orders are absent.

    422 when a date is malformed, `from` is after `to`, or the range is longer than
    `LAKEHOUSE_SERVING_MAX_RANGE_DAYS` days.
    """
    try:
        start, end = parse_range(from_, to, _settings(request).max_range_days)
    except RangeProblem as exc:
        # Same 422 shape as FastAPI's own validation errors, so clients parse one format.
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", exc.param), "msg": exc.message, "input": exc.value}]
        ) from exc
    rows = await _store(request).daily_revenue(start, end)
    return DailyRevenueRange.model_validate({"from": start, "to": end, "days": [DailyRevenue(**r) for r in rows]})


@router.get(
    "/v1/freshness",
    response_model=Freshness,
    tags=["data"],
    summary="Freshness of the gold tables",
    responses=_UNAVAILABLE,
)
async def get_freshness(request: Request) -> Freshness:
    """Per published gold table: watermark, published_at, age_seconds (now - watermark), row_count, snapshot_id."""
    try:
        pubs = await _store(request).publications()
    except StoreUnavailable:
        _metrics(request).observe_publications(None)
        raise
    _metrics(request).observe_publications(pubs)
    return _freshness(pubs)


def _freshness(pubs: Publications) -> Freshness:
    tables = [
        TableFreshness(
            gold_table=p.gold_table,
            watermark=p.watermark,
            published_at=p.published_at,
            age_seconds=p.age_seconds,
            row_count=p.row_count,
            snapshot_id=p.snapshot_id,
        )
        for p in pubs.rows
    ]
    return Freshness(now=pubs.now, tables=tables, unpublished=pubs.unpublished)


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}},
)
async def get_metrics(request: Request) -> Response:
    """Request counts and latency by route template and status; freshness age per gold table."""
    metrics = _metrics(request)
    try:
        # One tiny query per scrape keeps the freshness gauge current without a background task.
        metrics.observe_publications(await _store(request).publications())
    except StoreUnavailable:
        metrics.observe_publications(None)
    return Response(metrics.render(), media_type=metrics.content_type)


async def _store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def _version() -> str:
    try:
        return version("cdc-lakehouse")
    except PackageNotFoundError:
        return "0"


def create_app(settings: ServingSettings) -> FastAPI:
    """The serving API reading the store of `settings` as its read-only role."""
    store = Store(settings.conninfo(reader=True))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("serving store %s:%s/%s as %s", settings.host, settings.port, settings.database, settings.reader_user)
        await store.open()
        try:
            yield
        finally:
            await store.close()
            log.info("serving store pool closed")

    app = FastAPI(title="Lakehouse serving API", version=_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.store = store
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.include_router(router)
    return app
