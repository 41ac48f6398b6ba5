"""Edge protocol v1 constants and the challenge answer (docs/edge-protocol.md).

The snapshot format, its version digest and deltas are shared with the cloud through
``saas.compliance.snapshot``; the hub mirrors ``auth_message`` (tests/edge_hub pins both).
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
AUTH_CONTEXT = "cleangate-edge-auth"

CLOSE_PROTOCOL = 4400
CLOSE_AUTH = 4401
CLOSE_REVOKED = 4403
CLOSE_SUPERSEDED = 4409


def auth_message(device_id: str, nonce: str, timestamp: str) -> bytes:
    """What the device signs to answer the hub's challenge."""
    return f"{AUTH_CONTEXT}\n{device_id}\n{nonce}\n{timestamp}".encode()
