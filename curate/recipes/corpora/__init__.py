"""Python functions of built-in corpus recipes (one module per corpus)."""
