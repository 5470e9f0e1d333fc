"""nmgraph.runtimes."""
