"""The three web-API sandboxes together: in-process (``start_all``) for the demo and tests, or
as a process of their own for a Celery worker or a benchmark to reach::

    python -m connectors.sandboxes --hubspot-port 8101 --mailchimp-port 8102 \\
        --discourse-port 8103 [--latency 0] [--fail-rate 0] [--no-rate-limits] [--time-scale K]

``sandbox_system_configs`` gives each connector's settings for the running sandboxes (with the
same ``time_scale``, so the connectors' budgets run as fast as the sandboxes' limits), and
``SANDBOX_SECRETS`` the environment they expect.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from connectors.demo_people import CONFIGURED_LISTS
from connectors.discourse import sandbox as discourse
from connectors.hubspot import sandbox as hubspot
from connectors.mailchimp import sandbox as mailchimp
from connectors.sandbox_base import CONTROL_PREFIX, SandboxServer

# The environment variable holding the CRM's token (a name, not the token).
HUBSPOT_VARIABLE = "DSAR_SECRET_HUBSPOT_TOKEN"

SANDBOX_SECRETS: dict[str, str] = {
    "DSAR_SECRET_HUBSPOT_TOKEN": hubspot.TOKEN,
    "DSAR_SECRET_MAILCHIMP_API_KEY": mailchimp.API_KEY,
    "DSAR_SECRET_DISCOURSE_API_KEY": discourse.API_KEY,
}

_running: dict[str, SandboxServer] = {}
_lock = threading.Lock()


def start_all(
    *,
    hubspot_port: int = 0,
    mailchimp_port: int = 0,
    discourse_port: int = 0,
    latency_s: float = 0.0,
    fail_rate: float = 0.0,
    rate_limits: bool = True,
    time_scale: float = 1.0,
    seed: int = 0,
) -> dict[str, str]:
    """Start the HubSpot, Mailchimp and Discourse sandboxes (port 0: any free port).

    Returns each one's base URL by connector key. Sandboxes this process started before are
    stopped first. ``rate_limits=False`` lifts the real APIs' limits, for a demo of the heavy
    user that should not wait out Discourse's 60 requests a minute; ``time_scale`` K divides
    every rate-limit window by K instead.
    """
    faults: dict[str, Any] = {
        "latency_s": latency_s,
        "fail_rate": fail_rate,
        "time_scale": time_scale,
    }
    if not rate_limits:
        faults |= {"rate_limit": None, "class_rate_limits": {}, "max_concurrent": None}
    sandboxes: dict[str, tuple[SandboxServer, int]] = {
        "hubspot": (hubspot.HubSpotSandbox(seed=seed, **faults), hubspot_port),
        "mailchimp": (mailchimp.MailchimpSandbox(seed=seed, **faults), mailchimp_port),
        "discourse": (discourse.DiscourseSandbox(seed=seed, **faults), discourse_port),
    }
    with _lock:
        _stop_running()
        for key, (sandbox, port) in sandboxes.items():
            sandbox.start(port)
            _running[key] = sandbox
        return {key: sandbox.base_url for key, sandbox in _running.items()}


def stop_all() -> None:
    """Stop the sandboxes ``start_all`` started."""
    with _lock:
        _stop_running()


def _stop_running() -> None:
    for sandbox in _running.values():
        sandbox.stop()
    _running.clear()


# A time scale so large that the connectors' budgets never wait: for sandboxes without limits.
UNLIMITED = 1e9


def sandbox_system_configs(
    urls: Mapping[str, str], *, time_scale: float = 1.0, rate_limits: bool = True
) -> dict[str, dict[str, Any]]:
    """Each connector's settings to drive the sandboxes at ``urls`` (as ``start_all`` returns),
    with the budgets scaled as the sandboxes' limits are (or lifted with them)."""
    scale = time_scale if rate_limits else UNLIMITED
    return {
        "hubspot": {
            "base_url": urls["hubspot"],
            "allow_private_network": True,
            "token_env": "DSAR_SECRET_HUBSPOT_TOKEN",  # nosec B105  # a variable's name
            "time_scale": scale,
        },
        "mailchimp": {
            "base_url": urls["mailchimp"],
            "allow_private_network": True,
            "api_key_env": "DSAR_SECRET_MAILCHIMP_API_KEY",
            "list_ids": list(CONFIGURED_LISTS),
            "time_scale": scale,
        },
        "discourse": {
            "base_url": urls["discourse"],
            "allow_private_network": True,
            "api_key_env": "DSAR_SECRET_DISCOURSE_API_KEY",
            "api_username": discourse.API_USERNAME,
            "erase_mode": "anonymize",
            "time_scale": scale,
        },
    }


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(
        description="Serve the HubSpot, Mailchimp and Discourse sandboxes."
    )
    parser.add_argument("--hubspot-port", type=int, default=8101)
    parser.add_argument("--mailchimp-port", type=int, default=8102)
    parser.add_argument("--discourse-port", type=int, default=8103)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of calls that fail")
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="lift the real APIs' rate limits"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="divide every rate-limit window by K"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault choice")
    args = parser.parse_args(argv)
    urls = start_all(
        hubspot_port=args.hubspot_port,
        mailchimp_port=args.mailchimp_port,
        discourse_port=args.discourse_port,
        latency_s=args.latency,
        fail_rate=args.fail_rate,
        rate_limits=not args.no_rate_limits,
        time_scale=args.time_scale,
        seed=args.seed,
    )
    for key, url in urls.items():
        control = f"{_running[key].root_url}{CONTROL_PREFIX}"
        print(f"{key:<10} {url}  (control: {control}{{config,reset,calls,state}})")
    print(
        "secrets    " + " ".join(f"{name}={value}" for name, value in SANDBOX_SECRETS.items()),
        flush=True,
    )
    # Docker and process managers stop with SIGTERM; leave through the same path as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    stop_all()
    raise SystemExit(0)


if __name__ == "__main__":
    main()
