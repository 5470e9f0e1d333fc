"""nmgraph.compilers."""
