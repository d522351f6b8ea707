"""One module per artifact kind; each defines `KIND: ArtifactKind`. Discovered by data_contracts.registry."""
