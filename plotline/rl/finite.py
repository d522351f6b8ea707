"""The one error both policy updates raise on NaN/inf: it names the sample or the optimiser step."""

from __future__ import annotations


class NonFiniteError(FloatingPointError):
    """NaN/inf met in a sample's inputs (latents, log-probs, advantage) or in a loss or gradient norm; the message
    names the sample or the optimiser step, and the optimiser did not step."""
