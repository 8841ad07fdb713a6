"""A small client for the Kafka Connect REST API with retries on connection errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class ConnectError(RuntimeError):
    """Kafka Connect refused a request or a connector failed; the message says which and why."""


class ConnectClient:
    """Typed calls for the endpoints the connector tool uses."""

    def __init__(self, url: str, *, retries: int = 8, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        # Every call here is idempotent (PUT config, GET, POST restart, DELETE), so retrying
        # is safe; 409 is Connect's "rebalance in progress, try again".
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            backoff_factor=0.5,
            status_forcelist=(409, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "PUT", "POST", "DELETE"}),
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = self.session.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
        except requests.ConnectionError as exc:
            raise ConnectError(
                f"cannot reach Kafka Connect at {self.url} ({exc.__class__.__name__}); is it running? "
                "Check LAKEHOUSE_CONNECT_URL, or `make status` for the local stack"
            ) from exc
        return resp

    @staticmethod
    def _json(resp: requests.Response, what: str) -> Any:
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", resp.text)
            except ValueError:
                message = resp.text
            raise ConnectError(f"{what}: HTTP {resp.status_code}: {message}")
        return resp.json() if resp.content else None

    def plugins(self) -> list[dict[str, Any]]:
        return list(self._json(self._call("GET", "/connector-plugins"), "listing plugins"))

    def validate(self, connector_class: str, config: dict[str, str]) -> dict[str, list[str]]:
        """Field -> errors reported by the plugin's own validation (empty when valid)."""
        cls = connector_class.rsplit(".", 1)[-1]
        body = self._json(
            self._call("PUT", f"/connector-plugins/{cls}/config/validate", json=config),
            "validating the connector config",
        )
        errors: dict[str, list[str]] = {}
        for entry in body.get("configs", []):
            value = entry.get("value", {})
            if value.get("errors"):
                errors[value["name"]] = list(value["errors"])
        return errors

    def get_config(self, name: str) -> dict[str, str] | None:
        resp = self._call("GET", f"/connectors/{name}/config")
        if resp.status_code == 404:
            return None
        return dict(self._json(resp, f"reading connector {name}"))

    def put_config(self, name: str, config: dict[str, str]) -> None:
        self._json(self._call("PUT", f"/connectors/{name}/config", json=config), f"applying connector {name}")

    def status(self, name: str) -> dict[str, Any] | None:
        resp = self._call("GET", f"/connectors/{name}/status")
        if resp.status_code == 404:
            return None
        return dict(self._json(resp, f"reading status of {name}"))

    def restart(self, name: str) -> None:
        self._json(
            self._call("POST", f"/connectors/{name}/restart", params={"includeTasks": "true", "onlyFailed": "false"}),
            f"restarting {name}",
        )

    def task_configs(self, name: str) -> list[dict[str, Any]]:
        """The configs Connect generated for the connector's tasks (what they run with)."""
        tasks = self._json(self._call("GET", f"/connectors/{name}/tasks"), f"reading tasks of {name}")
        return [t.get("config", {}) for t in tasks or []]

    def wait_tasks_configured(self, name: str, key: str, value: str, *, timeout_s: float) -> None:
        """Wait until every task config of `name` has `key` = `value` (a config update has reached them)."""
        deadline = time.monotonic() + timeout_s
        while True:
            configs = self.task_configs(name)
            if configs and all(c.get(key) == value for c in configs):
                return
            if time.monotonic() > deadline:
                raise ConnectError(f"the tasks of {name} did not pick up the new {key} in {timeout_s:.0f}s")
            time.sleep(0.5)

    def delete(self, name: str) -> bool:
        resp = self._call("DELETE", f"/connectors/{name}")
        if resp.status_code == 404:
            return False
        self._json(resp, f"deleting {name}")
        return True

    def wait_running(
        self, name: str, *, timeout_s: float, on_wait: Callable[[str], None] | None = None, poll_s: float = 1.0
    ) -> dict[str, Any]:
        """Wait until the connector and every task are RUNNING; raise with the trace on FAILED."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while True:
            st = self.status(name)
            if st is not None:
                states = [st["connector"]["state"]] + [t["state"] for t in st.get("tasks", [])]
                failed = [t for t in st.get("tasks", []) if t["state"] == "FAILED"]
                if st["connector"]["state"] == "FAILED":
                    raise ConnectError(f"connector {name} FAILED:\n{st['connector'].get('trace', '')}")
                if failed:
                    raise ConnectError(f"connector {name} task {failed[0]['id']} FAILED:\n{failed[0].get('trace', '')}")
                if st.get("tasks") and all(s == "RUNNING" for s in states):
                    return st
                summary = ", ".join(states)
                if on_wait and summary != last:
                    on_wait(f"{name}: {summary}")
                last = summary
            if time.monotonic() > deadline:
                raise ConnectError(f"connector {name} not RUNNING after {timeout_s:.0f}s (last: {last or 'absent'})")
            time.sleep(poll_s)
