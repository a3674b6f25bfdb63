"""The one error the offline tools (``report``, ``train``, ``rebalance``) raise for input they cannot read."""

from __future__ import annotations


class ReportError(ValueError):
    """A file that cannot be read as a snapshot or a scrape; the message names the file and why."""
