"""The Django admin of DSAR Desk, one module per concern; importing them registers them."""

from . import api, cases, events, manual, register, systems

__all__ = ["api", "cases", "events", "manual", "register", "systems"]
