"""Forwarding of the workers' log records to the host, through multiprocessing-logging."""

from __future__ import annotations

import logging

import multiprocessing_logging

__all__ = ["forward_worker_logs"]

_installed = False


def forward_worker_logs() -> None:
    """Wrap the handlers of the ``nmgraph`` logger (once, before the first fork) so that records
    logged in forked workers reach the host's handlers. Nothing to do while it has no handlers:
    records then propagate to the root logger, whose handlers are wrapped the same way."""
    global _installed
    if _installed:
        return
    for logger in (logging.getLogger("nmgraph"), logging.getLogger()):
        if logger.handlers:
            multiprocessing_logging.install_mp_handler(logger)
    _installed = True
