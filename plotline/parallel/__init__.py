"""Multi-process execution of stage work: `accelerate launch` for data-parallel updates, device-pinned shard
subprocesses for rollouts/plans, and the collective operations the shared update code calls. Nothing here
touches the store: parents pass local paths in, workers write results into a temporary folder."""
