"""Public pages (the subject's side) and the demo outbox."""
