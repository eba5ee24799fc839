"""SQL databases (the free-trial sign-ups): the connector."""
