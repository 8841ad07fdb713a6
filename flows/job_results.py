"""What a platform job hands back to its flow: one JSON document, or a failure that says why.

Shared by the local runner (flows/jobs.py) and the Kubernetes one (flows/kubernetes_jobs.py).
"""

from __future__ import annotations

import json
from typing import Any


class JobFailed(RuntimeError):
    """A job exited non-zero; the message carries its exit code and the tail of its log."""


def last_json_result(output: str, what: str) -> Any:
    """The last line of `output` that is a JSON object or array: the CLI's result.

    Pod logs interleave stdout with stderr, where Spark prints progress lines that also start
    with `[` (`[Stage 3:> ...`), so a line counts only if it parses."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith(("[", "{")):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, (list, dict)):
                return value
    raise JobFailed(f"{what} printed no JSON result")
