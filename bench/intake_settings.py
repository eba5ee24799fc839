"""bench/intake.py's settings: the application's own, with the benchmark's URLs (the app's and a
bare reference view) as the root URLconf. Used only by the benchmark, never shipped."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.intake_urls"
