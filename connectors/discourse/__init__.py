"""Discourse forum: the connector and its local sandbox."""
