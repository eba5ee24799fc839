"""Mailchimp newsletter: the connector and its local sandbox."""
