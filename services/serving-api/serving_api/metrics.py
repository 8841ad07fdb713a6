"""Prometheus metrics of the serving API: requests by route template and status, and freshness.

Each app gets its own registry (tests build several apps in one process; the default global
registry would reject the second set of metrics).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving_api.store import GOLD_TABLES, Publications

# Requests that matched no route share one label, so probing random URLs cannot blow up the series count.
UNMATCHED_ROUTE = "<unmatched>"
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The API's metric families, in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "serving_api_http_requests",
            "HTTP requests answered, by route template and status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "serving_api_http_request_duration_seconds",
            "HTTP request latency, by route template and status",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.freshness_age = Gauge(
            "serving_api_freshness_age_seconds",
            "now - watermark of each published gold table (absent: unknown)",
            ("gold_table",),
            registry=self.registry,
        )
        self.store_up = Gauge(
            "serving_api_store_up", "1 if the serving store answered the last freshness read", registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def observe_publications(self, publications: Publications | None) -> None:
        """Set the freshness gauges from a publications read; None means the store did not answer."""
        self.store_up.set(0 if publications is None else 1)
        ages = {} if publications is None else {p.gold_table: p.age_seconds for p in publications.rows}
        for table in GOLD_TABLES:
            age = ages.get(table)
            if age is None:
                # No value beats a stale one: an alert on age must not be fed yesterday's number.
                self.freshness_age.remove(table)
            else:
                self.freshness_age.labels(table).set(age)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled `scope` (e.g. /v1/customers/{customer_id})."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (lighter than BaseHTTPMiddleware, streams untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before sending a response
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router wrote the matched route into this same scope dict on the way in.
            self.metrics.observe_request(scope["method"], route_template(scope), status, time.perf_counter() - started)
