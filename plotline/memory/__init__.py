"""GPU-memory accounting: live saved-for-backward bytes, and per-stage peak estimates on the meta device."""
