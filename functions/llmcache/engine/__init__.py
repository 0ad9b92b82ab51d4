"""The cache path, the same for every API: lookup -> (coalesce) -> upstream -> store (`core`), the per-input
path of embeddings (`per_input`), coalescing (`coalesce`, `shared_stream`, `leases`), flush generations,
the semantic query and the operator's admin actions."""
