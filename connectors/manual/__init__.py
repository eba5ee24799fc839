"""Systems without an API: every action becomes a manual task."""
