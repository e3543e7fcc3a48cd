"""
``python -m objlog``: the same as the ``objlog`` command.
"""

from __future__ import annotations

import sys

from objlog.cli import main

if __name__ == "__main__":
    sys.exit(main())
