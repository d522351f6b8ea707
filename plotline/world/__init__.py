"""The shapes world: procedural instructions, renderer, programmatic judges."""
