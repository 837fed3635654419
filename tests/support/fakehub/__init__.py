"""Loopback fake Hugging Face Hub for end-to-end tests (contract A, /work/helpers/CONTRACTS.md)."""

from .faults import RecordedRequest
from .server import FakeHub

__all__ = ["FakeHub", "RecordedRequest"]
