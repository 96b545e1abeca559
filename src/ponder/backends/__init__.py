"""Policy implementations behind one interface: nano (ponder's own transformer)."""

from ponder.backends.base import Policy
from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy

__all__ = ["DEFAULT_MODEL", "NanoPolicy", "Policy"]
