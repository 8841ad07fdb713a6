"""The merge driven from a Python thread other than the one that built its Spark session.

`make bench`, `lakehouse-merge stream` callers and flows may run cycles in threads. Iceberg's
Spark3Util resolves catalogs through the JVM thread's active session, which such a thread
lacks: a name like `default.ops.dead_letters` was read as a namespace of spark_catalog
(REQUIRES_SINGLE_PART_NAMESPACE) on the first cycle. A fresh process, so no earlier use on the
main thread hides it.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

SCRIPT = textwrap.dedent(
    """
    import threading
    from cdc_merge.job import run_once
    from lakehouse.settings import get_settings
    from spark_iceberg.session import build_session
    from spark_iceberg.tables import find_table

    settings = get_settings()
    spark = build_session(settings, app_name="merge-in-a-thread")
    outcome = {}

    def cycle():
        try:
            # what a cycle with something to merge does first (this stack may have nothing new)
            find_table(spark, settings.registry().dead_letter)
            outcome["results"] = run_once(spark, settings, lambda _m: None)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=cycle)
    worker.start()
    worker.join()
    spark.stop()
    if "error" in outcome:
        raise outcome["error"]
    print("cycle in a thread:", len(outcome["results"]), "table(s)")
    """
)


def test_a_cycle_runs_in_a_thread_of_a_fresh_process(stack: Any) -> None:
    proc = stack.run(sys.executable, "-c", SCRIPT, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cycle in a thread:" in proc.stdout
