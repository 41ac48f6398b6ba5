"""Child process for the kill test: writes passages and prints each event id after COMMIT."""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

from edge_bridge.outbox import Outbox

box = Outbox(Path(sys.argv[1]))
index = 0
while True:
    event_id = str(uuid.uuid4())
    data = f"photo {event_id}".encode() * 50
    photo = hashlib.sha256(data).hexdigest()
    box.put(event_id, {"event_id": event_id, "n": index, "images": [photo]}, [(data, "image/jpeg")])
    print(event_id, photo, flush=True)  # acknowledged to the "camera" only now
    index += 1
