"""nmgraph's version, in one place: the package metadata (pyproject.toml) and every module read it here."""

__version__ = "0.2.0"
