"""The operator-facing commands against the real stack: connector tool, stack control, stack.env."""

import json
import stat
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from tests.integration.conftest import REPO


def test_apply_is_idempotent_and_status_reports_running(stack: Any) -> None:
    again = stack.run("lakehouse-connectors", "apply", "--output", "json")
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["changed"] is False and result["created"] is False
    status = stack.run("lakehouse-connectors", "status", "--output", "json")
    st = json.loads(status.stdout)
    assert st["connector"]["state"] == "RUNNING" and [t["state"] for t in st["tasks"]] == ["RUNNING"]


def test_cdc_password_is_held_by_no_connector_config(stack: Any) -> None:
    """Connect's REST API and its config topic hold a reference; only the worker's file the value."""
    secret_file = Path(stack.env["LAKEHOUSE_CONNECT_SECRETS_DIR"]) / "LAKEHOUSE_SOURCE_CDC_PASSWORD"
    password = secret_file.read_text()
    assert len(password) >= 16 and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    connect = stack.env["LAKEHOUSE_CONNECT_URL"]
    with urllib.request.urlopen(f"{connect}/connectors?expand=info&expand=status", timeout=10) as resp:
        answer = resp.read().decode()
    assert password not in answer and "${dir:" in answer and '"state":"RUNNING"' in answer.replace(" ", "")
    consumer = Consumer(
        {
            "bootstrap.servers": stack.env["LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS"],
            "group.id": f"config-topic-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition("_connect-configs", 0, 0)])
        records: list[bytes] = []
        while (msg := consumer.poll(5)) is not None:
            if msg.error() is None and msg.value():
                records.append(msg.value())
    finally:
        consumer.close()
    assert records and not [r for r in records if password.encode() in r]
    assert any(b"${dir:" in r for r in records)


def test_invalid_connector_config_names_every_bad_key(stack: Any) -> None:
    bad = stack.run(
        "lakehouse-connectors", "apply", check=False, extra_env={"LAKEHOUSE_CONNECT_SNAPSHOT_MODE": "sometimes"}
    )
    assert bad.returncode == 1
    assert "rejected by Kafka Connect validation" in bad.stderr and "snapshot.mode" in bad.stderr
    # nothing was applied: the running connector still has the good config
    assert stack.run("lakehouse-connectors", "status").returncode == 0


def test_unreachable_connect_and_missing_settings_fail_clearly(stack: Any) -> None:
    down = stack.run(
        "lakehouse-connectors", "status", check=False, extra_env={"LAKEHOUSE_CONNECT_URL": "http://127.0.0.1:9"}
    )
    assert down.returncode == 1 and "cannot reach Kafka Connect at http://127.0.0.1:9" in down.stderr
    env = {k: v for k, v in stack.env.items() if k != "LAKEHOUSE_SOURCE_PASSWORD"}
    missing = subprocess.run(
        [str(REPO / ".venv/bin/lakehouse-connectors"), "render"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "LAKEHOUSE_SOURCE_PASSWORD is not set" in missing.stderr


def test_restart_waits_for_running(stack: Any) -> None:
    out = stack.run("lakehouse-connectors", "restart")
    assert "RUNNING" in out.stdout


def test_stack_status_and_taken_port(stack: Any, tmp_path: Any) -> None:
    st = json.loads(stack.run("lakehouse-stack", "status", "--output", "json").stdout)
    assert {c["name"]: c["healthy"] for c in st} == {
        "postgres": True,
        "kafka": True,
        "connect": True,
        "minio": True,
        "prefect": True,
        "serving-api": True,
        "prefect-worker": True,
    }
    clash = stack.run("lakehouse-stack", "up", check=False, extra_env={"LAKEHOUSE_STACK_DIR": str(tmp_path)})
    assert clash.returncode == 1
    port = stack.env["LAKEHOUSE_STACK_POSTGRES_PORT"]
    assert f"port {port} for postgres is already in use" in clash.stderr
    assert "LAKEHOUSE_STACK_POSTGRES_PORT" in clash.stderr


def test_stack_env_serves_psql_and_pyiceberg(stack: Any, merge: Any) -> None:
    stack.sql("INSERT INTO lab.bystander VALUES (900, 'env') ON CONFLICT DO NOTHING")
    merge(["lab.bystander"])
    env_file = stack.root / "state" / "stack.env"
    script = (
        f". {env_file} && psql -XAtc 'select count(*) from lab.bystander where id = 900' && "
        f'{REPO}/.venv/bin/python -c "from pyiceberg.catalog import load_catalog; '
        f"t = load_catalog('default').load_table('silver.bystander'); "
        f"print(sorted(r['id'] for r in t.scan().to_arrow().to_pylist()))\""
    )
    clean_env = {k: v for k, v in stack.env.items() if not k.startswith(("LAKEHOUSE_", "PG", "PYICEBERG_"))}
    out = subprocess.run(["bash", "-c", script], env=clean_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "1" and "900" in lines[-1]


def test_stream_mode_merges_continuously_and_stops_on_sigterm(stack: Any, catalog: Any) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [str(REPO / ".venv/bin/lakehouse-merge"), "stream", "--table", "lab.bystander"],
        env={**stack.env, "LAKEHOUSE_MERGE_TRIGGER_INTERVAL_S": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for i in range(3):
            stack.sql("INSERT INTO lab.bystander VALUES (%s, 'streamed') ON CONFLICT DO NOTHING", (500 + i,))
            deadline = time.monotonic() + 120
            while True:
                ids = {r["id"] for r in catalog.load_table("silver.bystander").scan().to_arrow().to_pylist()}
                if 500 + i in ids:
                    break
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, f"row {500 + i} never arrived"
                time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert "finishing the current batch" in out
