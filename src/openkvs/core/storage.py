"""The storage interface as the layers above name it: http/ imports these from here, never from
backends/ (backends/base.py defines them)."""

from __future__ import annotations

from openkvs.backends.base import Backend, BodyStream, StorageTotals

__all__ = ["Backend", "BodyStream", "StorageTotals"]
