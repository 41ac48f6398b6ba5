"""`cleangate-edge`: the on-prem daemon's command line (standard library argparse: no Flask)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_bridge import __version__, keys


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cleangate-edge", description="CleanGate 环保门禁云 edge bridge"
    )
    parser.add_argument("--version", action="version", version=f"cleangate-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="generate this box's Ed25519 device key")
    keygen.add_argument("--key", default="/var/lib/cleangate-edge/device.key")
    keygen.set_defaults(func=_keygen)
    pub = sub.add_parser("pubkey", help="print the public key of the device key")
    pub.add_argument("--key", default="/var/lib/cleangate-edge/device.key")
    pub.set_defaults(func=_pubkey)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
