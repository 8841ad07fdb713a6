"""Handles on the platform deployed in a kind cluster, for the end-to-end suite: kubectl through
pytest-kind's KindCluster, port-forwards to the in-cluster services, and the platform's settings
(ConfigMap `lakehouse-settings` + Secret `lakehouse-secrets`) with hosts rewritten to the forwards,
so the suite reads PostgreSQL, the Iceberg catalog and MinIO exactly as the pods do."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.versions import versions as load_versions
from pytest_kind import KindCluster

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "lakehouse"
# The overlay the suite deploys (`make e2e OVERLAY=kind-tls` proves encryption in transit).
OVERLAY = os.environ.get("LAKEHOUSE_E2E_OVERLAY", "kind")
# Where the TLS overlays mount the platform's CA in every client pod (k8s/components/tls).
POD_CA_FILE = "/etc/lakehouse/tls/ca.crt"


@dataclass(frozen=True)
class Tools:
    """Where kind, kubectl and the node image come from: the locally built ones (make kind-up),
    or whatever KIND_PATH / KUBECTL_PATH / KIND_NODE_IMAGE name (stock downloads in CI)."""

    kind: Path
    kubectl: Path
    node_image: str
    cluster_name: str
    kubeconfig: Path

    @classmethod
    def from_env(cls) -> Tools:
        v = load_versions()
        from lakehouse.settings import StackSettings

        cache = StackSettings().cache_dir / "kind"
        kind = os.environ.get("KIND_PATH") or str(cache / "bin" / f"kind-{v['KIND_VERSION']}" / "kind")
        kubectl = os.environ.get("KUBECTL_PATH") or str(
            cache / "bin" / f"kubernetes-{v['KUBERNETES_VERSION']}" / "kubectl"
        )
        return cls(
            kind=Path(kind),
            kubectl=Path(kubectl),
            node_image=os.environ.get("KIND_NODE_IMAGE", f"lakehouse/kind-node:{v['KUBERNETES_VERSION']}"),
            cluster_name=os.environ.get("KIND_CLUSTER_NAME", "lakehouse"),
            kubeconfig=Path(os.environ.get("KUBECONFIG", "").split(":")[0] or Path.home() / ".kube" / "config"),
        )

    def missing(self) -> list[str]:
        """What is not there, each with its fix."""
        out = []
        for what, path in (("kind", self.kind), ("kubectl", self.kubectl)):
            if not path.exists():
                out.append(f"{what} not found at {path}: run `make kind-up` (builds it) or set {what.upper()}_PATH")
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Forward:
    """A local port that reaches svc/<service>:<port> for the whole session: one `kubectl
    port-forward` per connection, relayed through a listener of this process.

    kubectl ends a forward on the first stream the pod side resets (kubernetes/kubernetes#74551),
    and PostgreSQL over TLS resets as a client closes (its TLS close_notify arrives after the
    backend stopped reading): a shared forward to a TLS server would serve one connection."""

    def __init__(self, argv: list[str], what: str) -> None:
        self.what, self._argv, self._stopping = what, argv, False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _open(self, timeout_s: float = 30) -> tuple[subprocess.Popen[str], socket.socket]:
        """A fresh kubectl port-forward on a port of its choosing, and a connection through it."""
        proc = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline, line = time.monotonic() + timeout_s, ""
        assert proc.stdout is not None
        for line in proc.stdout:  # "Forwarding from 127.0.0.1:43117 -> 5432"
            if line.startswith("Forwarding from 127.0.0.1:"):
                local = int(line.split(":")[1].split()[0])
                threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the rest
                return proc, socket.create_connection(("127.0.0.1", local), timeout=10)
            if time.monotonic() > deadline:
                break
        _stop(proc)
        raise OSError(f"kubectl port-forward {self.what} did not start: {line.strip()}")

    def _relay(self, client: socket.socket) -> None:
        try:
            proc, upstream = self._open()
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(timeout=10)
        client.close()
        upstream.close()
        _stop(proc)

    def alive(self) -> bool:
        return not self._stopping and self._thread.is_alive()

    def wait_listening(self, timeout_s: float = 30) -> None:
        """Until one forward works end to end (a fresh pod's first forward takes a moment)."""
        proc, conn = self._open(timeout_s)
        conn.close()
        _stop(proc)

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()


@dataclass
class Platform:
    """The deployed platform: kubectl, port-forwards and the settings environment."""

    cluster: KindCluster
    tools: Tools
    # "service:port" -> the kubectl port-forward serving it
    forwards: dict[str, _Forward] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)
    _ca_file: Path | None = None

    def ca_file(self) -> Path | None:
        """The platform's CA (ConfigMap lakehouse-ca) as a local file, or None on a plaintext overlay."""
        if self._ca_file is None:
            found = self.kubectl("get", "configmap", "lakehouse-ca", "--ignore-not-found", "-o", "json")
            if not found.strip():
                return None
            path = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="lakehouse-e2e-"))) / "ca.crt"
            path.write_text(json.loads(found)["data"]["ca.crt"])
            self._ca_file = path
        return self._ca_file

    def _argv(self, *args: str) -> list[str]:
        """kubectl against the cluster: context kind-<name>, namespace lakehouse."""
        kubectl, kubeconfig = str(self.tools.kubectl), str(self.tools.kubeconfig)
        return [
            kubectl,
            "--kubeconfig",
            kubeconfig,
            "--context",
            f"kind-{self.tools.cluster_name}",
            "-n",
            NAMESPACE,
            *args,
        ]

    def kubectl(self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None) -> str:
        """Run kubectl against the cluster (context kind-<name>, namespace lakehouse) and return stdout;
        `stdin` is piped to it (`kubectl apply -f -`)."""
        argv = self._argv(*args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def forward(self, service: str, port: int) -> int:
        """A kubectl port-forward to svc/<service>:<port>, kept for the session; returns the local port.
        Re-started when the pod behind it was replaced (a port-forward pins one pod)."""
        key = f"{service}:{port}"
        if key in self.forwards:
            fwd = self.forwards[key]
            if fwd.alive() and _answers(fwd.port):
                return fwd.port
            fwd.stop()
        fwd = _Forward(self._argv("port-forward", f"svc/{service}", f"0:{port}"), f"svc/{service} {port}")
        self._stack.callback(fwd.stop)
        fwd.wait_listening()
        self.forwards[key] = fwd
        return fwd.port

    def drop_forwards(self) -> None:
        """Stop every port-forward: after a pod restart a forward may still listen yet lead nowhere."""
        for fwd in self.forwards.values():
            fwd.stop()
        self.forwards.clear()

    def settings_env(self) -> dict[str, str]:
        """The pods' settings environment (ConfigMap + Secret), with every service host replaced by a
        local port-forward, so `lakehouse.settings.get_settings()` in this process reaches the cluster."""
        cm = self.json("get", "configmap", "lakehouse-settings")["data"]
        secret = {
            k: base64.b64decode(v).decode() for k, v in self.json("get", "secret", "lakehouse-secrets")["data"].items()
        }
        env = {**cm, **secret}
        for prefix in ("SOURCE", "CATALOG", "SERVING"):
            host, port = env[f"LAKEHOUSE_{prefix}_HOST"], int(env[f"LAKEHOUSE_{prefix}_PORT"])
            env[f"LAKEHOUSE_{prefix}_HOST"] = "127.0.0.1"
            env[f"LAKEHOUSE_{prefix}_PORT"] = str(self.forward(host, port))
        scheme, s3 = env["LAKEHOUSE_S3_ENDPOINT"].split("://")
        s3_host, s3_port = s3.split(":")
        env["LAKEHOUSE_S3_ENDPOINT"] = f"{scheme}://127.0.0.1:{self.forward(s3_host, int(s3_port))}"
        # Under TLS the pods' CA path names a file of theirs: point at a local copy. Server
        # certificates name 127.0.0.1 too (certs.sh), so verify-full holds through the forwards.
        ca = self.ca_file()
        if ca is not None:
            env = {k: (str(ca) if v == POD_CA_FILE else v) for k, v in env.items()}
        # This process reads the registry from the repository, the pods from the same file (ConfigMap).
        env["LAKEHOUSE_REGISTRY_PATH"] = str(REPO / "config" / "tables.yaml")
        return env

    def close(self) -> None:
        self._stack.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def settings_from(env: dict[str, str]) -> Iterator[Any]:
    """Point the process environment at `env` for the block and yield fresh Settings."""
    from lakehouse.settings import get_settings

    saved = dict(os.environ)
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
