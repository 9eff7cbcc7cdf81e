"""The package's version, in a leaf module that any part of the package can import."""

from __future__ import annotations

__version__ = "0.3.0"
