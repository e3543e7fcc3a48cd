"""Fixtures for the metrics tests: a memory store and writers closed after each test."""

from writer_helpers import make_writer, store

__all__ = ["make_writer", "store"]
