"""Rewards: judges, parsing, PickScore, aggregation."""
