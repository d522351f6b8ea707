"""`python -m tests.flows.run_train RUN_URI STEPS OVERRIDE...`: the train flow with the plugin test stages in a
process of its own, so a test can signal or kill it mid-stage (PREFECT_API_URL comes from the environment)."""

from __future__ import annotations

import sys

from flows.train import train_flow
from tests.flows.helpers import plugin_config


def main(argv: list[str]) -> None:
    """Run the flow and print each record's stage, step and status."""
    run_uri, steps, overrides = argv[0], int(argv[1]), argv[2:]
    records = train_flow(config=plugin_config(*overrides).model_dump(mode="json"), run_uri=run_uri, steps=steps)
    for r in records:
        print(f"RECORD {r['stage']}@{r['step']} {r['status']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
