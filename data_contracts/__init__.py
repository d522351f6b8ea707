"""Data contracts: a pyarrow schema and a great-expectations suite per artifact kind, and validate()."""

from data_contracts.kind import ArtifactKind
from data_contracts.registry import all_kinds, get_kind, register_kind
from data_contracts.report import CheckFailure, ContractViolation, ValidationReport
from data_contracts.validate import validate

__all__ = [
    "ArtifactKind",
    "CheckFailure",
    "ContractViolation",
    "ValidationReport",
    "all_kinds",
    "get_kind",
    "register_kind",
    "validate",
]
