"""
objlog benchmarks: what objlog costs the program, and how close it gets to the store's limit.

Run ``python -m benchmarks [--quick|--smoke] [--json PATH] [--endpoint URL]`` from the
repository root; see ``benchmarks/README.md`` for what each figure means. Every figure
is measured next to a baseline in the same run, on the same records.

This package lives outside ``src/`` and outside pytest on purpose: timings are not
assertions (``tests/test_benchmarks_smoke.py`` only checks that every figure is produced).
"""

from __future__ import annotations
