"""Multi-process execution of stage work: one spec type (`spec.WorkerSpec`), one registry of job kinds
(`jobs`), one worker entry point (`python -m plotline.parallel.worker SPEC.json`), launched as device-pinned shard
processes (rollouts, plans) or under `accelerate launch` for data-parallel updates (`launch`), plus the collective
operations the shared update code calls (`collective`). Nothing here touches the store or imports a job module:
parents pass local paths in, workers write results into a temporary folder."""
