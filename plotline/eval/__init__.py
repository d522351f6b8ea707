"""The Temporal Order benchmark: generation under modes/checkpoints, judging, reports, human agreement."""
