"""The Kubernetes work pool's base job template with the image and the command fixed.

`prefect-deploy` (k8s/base/prefect) writes the pool from k8s/base/prefect/base-job-template.json
through this: the flows image is put into the job manifest itself and the `image` and
`command` variables are removed, so no deployment and no caller of the Prefect API can make
a flow-run pod run another image or another program under the pool's service account.

    python -m flows.work_pool IMAGE TEMPLATE_IN TEMPLATE_OUT
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

# What Prefect's Kubernetes worker runs when no command is given: the flow run itself.
FLOW_RUN_COMMAND = ["prefect", "flow-run", "execute"]
FIXED_VARIABLES = ("image", "command")


def fixed_template(template: dict[str, Any], image: str) -> dict[str, Any]:
    """`template` with `image` and the flow-run command written in, and no variables for them."""
    if not image:
        raise ValueError("no flows image given: set FLOWS_IMAGE (the ConfigMap prefect-deploy-images)")
    out = copy.deepcopy(template)
    config = out["job_configuration"]
    config.pop("command", None)
    container = config["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = image
    container["args"] = list(FLOW_RUN_COMMAND)
    props = out["variables"]["properties"]
    for name in FIXED_VARIABLES:
        props.pop(name, None)
    out["variables"]["required"] = [r for r in out["variables"].get("required", []) if r not in FIXED_VARIABLES]
    return out


def main(argv: list[str]) -> int:
    """Write the fixed template: IMAGE TEMPLATE_IN TEMPLATE_OUT."""
    if len(argv) != 3:
        print("usage: python -m flows.work_pool IMAGE TEMPLATE_IN TEMPLATE_OUT", file=sys.stderr)
        return 2
    image, src, dst = argv
    with open(src) as f:
        template = json.load(f)
    try:
        fixed = fixed_template(template, image)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with open(dst, "w") as f:
        json.dump(fixed, f, indent=2)
    print(f"base job template: image {image}, command {' '.join(FLOW_RUN_COMMAND)} (fixed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
