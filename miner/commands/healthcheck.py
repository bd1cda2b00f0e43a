"""``neuraxon-miner healthcheck``: exit 0 iff a running miner's ``/healthz`` answers OK (Docker HEALTHCHECK).

It reads the same settings as ``run`` (TOML file, ``NEURAXON_MINER_*``, flags) to find the API's
port and token, and always asks over loopback when the API is bound to a wildcard address. No curl
needed in the image.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("healthcheck", help="exit 0 iff the running miner's /healthz answers OK",
                       description="Ask a running miner's /healthz (for Docker HEALTHCHECK and scripts). "
                                   "Exit 0 when healthy, 5 when not, 2 on a configuration error.")
    p.add_argument("-c", "--config", help="TOML settings file (default: $NEURAXON_MINER_CONFIG)")
    p.add_argument("--api-host", dest="api_host", default=argparse.SUPPRESS, help="API address of the miner")
    p.add_argument("--api-port", dest="api_port", default=argparse.SUPPRESS, help="API port of the miner")
    p.add_argument("--api-token", dest="api_token", default=argparse.SUPPRESS, help="API token, when it needs one")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    p.add_argument("--ready", action="store_true", help="ask /readyz instead (connected and mining)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request
    from pathlib import Path

    from miner.exit_codes import EXIT_CONFIG, EXIT_OK, EXIT_UNHEALTHY
    from miner.settings import SettingsError, load_settings

    cli = {k: getattr(args, k) for k in ("api_host", "api_port", "api_token") if hasattr(args, k)}
    try:
        settings = load_settings(cli, config_file=Path(args.config) if args.config else None).settings
    except SettingsError as exc:
        print(f"healthcheck: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    host = settings.api_host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.api_port}/{'readyz' if args.ready else 'healthz'}"
    request = urllib.request.Request(url)
    if settings.api_token is not None:
        request.add_header("Authorization", f"Bearer {settings.api_token.get_secret_value()}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            body = json.loads(resp.read() or b"{}")
            healthy = resp.status == 200
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered HTTP {exc.code}", file=sys.stderr)
        return EXIT_UNHEALTHY
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return EXIT_UNHEALTHY
    print(f"{'healthy' if healthy else 'unhealthy'}: {url} {json.dumps(body)}")
    return EXIT_OK if healthy else EXIT_UNHEALTHY
