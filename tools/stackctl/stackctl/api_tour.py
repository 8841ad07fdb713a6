"""`make demo`'s last step: show what the serving API answers, with the URLs to try next."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta

import httpx


def main() -> int:
    """Print freshness, the last week's daily revenue and one customer from the serving API."""
    base = os.environ.get("SERVING_API_URL")
    if not base:
        print("error: SERVING_API_URL is not set; run: make up", file=sys.stderr)
        return 2
    today = datetime.now(UTC).date()
    calls = [
        "/v1/freshness",
        f"/v1/revenue/daily?from={today - timedelta(days=6)}&to={today}",
        "/v1/customers/1",
    ]
    with httpx.Client(base_url=base, timeout=10) as client:
        for path in calls:
            resp = client.get(path)
            print(f"\n$ curl '{base}{path}'   # HTTP {resp.status_code}")
            print(json.dumps(resp.json(), indent=2)[:1500])
    print(f"\nOpenAPI docs: {base}/docs    Prefect UI: {os.environ.get('PREFECT_API_URL', '').removesuffix('/api')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
