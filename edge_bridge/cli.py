"""`cleangate-edge`: the on-prem daemon's command line (standard library argparse: no Flask)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from edge_bridge import __version__, keys
from edge_bridge.drivers.base import ConfigError

DEFAULT_KEY = "/var/lib/cleangate-edge/device.key"


def _keygen(args: argparse.Namespace) -> int:
    path = Path(args.key)
    if path.exists():
        print(f"{path} already exists; refusing to overwrite a device key", file=sys.stderr)
        return 2
    key = keys.generate(path)
    print(f"private key written to {path} (keep it on this box)")
    print(f"public key (register it for the site): {keys.public_key_b64(key)}")
    return 0


def _pubkey(args: argparse.Namespace) -> int:
    print(keys.public_key_b64(keys.load(Path(args.key))))
    return 0


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from edge_bridge import config

    return config.load(Path(args.config))


def _pair(args: argparse.Namespace) -> int:
    """Generate the device key if needed and register it with a one-time pairing code."""
    from edge_bridge.daemon import write_pairing

    cfg = _config(args) if args.config else None
    key_path = Path(args.key) if args.key else (cfg.key_path if cfg else Path(DEFAULT_KEY))
    state_path = cfg.pairing_path if cfg else key_path.parent / "bridge.json"
    cloud = (args.cloud or (cfg.cloud_url if cfg else None) or "").rstrip("/")
    if not cloud.startswith(("https://", "http://")):
        print("--cloud must be the cloud's http(s) URL", file=sys.stderr)
        return 2
    key = keys.load(key_path) if key_path.exists() else keys.generate(key_path)
    body = json.dumps(
        {
            "code": args.code.strip().upper(),
            "public_key": keys.public_key_b64(key),
            "software_version": __version__,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{cloud}/api/v1/edge/pair",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
            message = f"{error.get('message', '')} {error.get('details', '')}".strip()
        except ValueError:
            message = exc.reason
        print(f"pairing refused ({exc.code}): {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach {cloud}: {exc}", file=sys.stderr)
        return 1
    write_pairing(state_path, {**answer, "cloud": cloud})
    print(f"paired as device {answer['device_id']} for site {answer.get('site_name', '')}")
    print(f"hub: {answer['hub_url']}; state written to {state_path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from edge_bridge.daemon import NotPaired, run

    try:
        run(_config(args))
    except (ConfigError, NotPaired) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import logging

    from edge_bridge.simulate import Simulator

    logging.basicConfig(level=logging.WARNING)
    sim = Simulator(_config(args), seed=args.seed, images=not args.no_images)
    asyncio.run(sim.run(args.trucks, args.rate, args.concurrency))
    if args.produced:
        sim.write_produced(Path(args.produced))
    print(
        f"{len(sim.produced)}/{args.trucks} passages answered; verdicts {sim.verdicts}; "
        f"{sim.retries} resends"
    )
    return 0 if len(sim.produced) == args.trucks else 1


def _hash_password(args: argparse.Namespace) -> int:
    from edge_bridge.web import hash_password

    password = getpass.getpass("guard password: ")
    if len(password) < 8 or password != getpass.getpass("again: "):
        print("passwords differ or shorter than 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cleangate-edge", description="CleanGate 环保门禁云 edge bridge"
    )
    parser.add_argument("--version", action="version", version=f"cleangate-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="generate this box's Ed25519 device key")
    keygen.add_argument("--key", default=DEFAULT_KEY)
    keygen.set_defaults(func=_keygen)
    pub = sub.add_parser("pubkey", help="print the public key of the device key")
    pub.add_argument("--key", default=DEFAULT_KEY)
    pub.set_defaults(func=_pubkey)
    pair = sub.add_parser("pair", help="register this box with a pairing code from the portal")
    pair.add_argument("--cloud", help="the cloud's URL, e.g. https://cloud.example.com")
    pair.add_argument("--code", required=True, help="the one-time pairing code")
    pair.add_argument("--config", help="edge.toml (for the state directory and key path)")
    pair.add_argument("--key", help=f"device key path (default {DEFAULT_KEY})")
    pair.set_defaults(func=_pair)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", required=True)
    run.set_defaults(func=_run)
    sim = sub.add_parser("simulate", help="push simulated trucks to the configured cameras")
    sim.add_argument("--config", required=True)
    sim.add_argument("--trucks", type=int, default=100)
    sim.add_argument("--rate", type=float, default=2.0, help="passages per second (0: max)")
    sim.add_argument("--concurrency", type=int, default=4)
    sim.add_argument("--seed", type=int)
    sim.add_argument("--no-images", action="store_true")
    sim.add_argument("--produced", help="write the answered (serial, event id) pairs here")
    sim.set_defaults(func=_simulate)
    hp = sub.add_parser("hash-password", help="hash a guard password for [web.users]")
    hp.set_defaults(func=_hash_password)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
