"""Connectors: one small interface to every system that holds personal data.

``base`` defines the interface, ``http`` the one HTTP helper, ``registry`` maps a connector's key
to its class, and each sub-package holds one connector (with its local sandbox where the real
system is a web API). Nothing here knows about Django.
"""
