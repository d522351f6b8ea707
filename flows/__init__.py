"""Prefect orchestration of the plotline stages (the only package besides the CLI that imports Prefect).

- stage_flows: every stage as a flow `stage-<name>` with one typed parameter (params.StageParams);
- train / evaluate / synthesize: the parent flows; dispatch: inline subflows or `run_deployment` with idempotency keys;
- stage_task: the stage task (retries, GPU concurrency slot, killable child process on timeout, progress);
- artifacts / audit_tables: the audit shown in the UI; resolve: digests and resume points from the store;
- deploy: `plotline deploy` from infra/prefect.yaml; server: `plotline ui`; signals: stopping cleanly.
"""
