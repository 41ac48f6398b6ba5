"""Child process for the kill test: writes passages and prints each event id after COMMIT."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from edge_bridge.outbox import Outbox

box = Outbox(Path(sys.argv[1]))
index = 0
while True:
    event_id = str(uuid.uuid4())
    photo = box.put_image(f"photo {event_id}".encode() * 50, "image/jpeg")
    box.put(event_id, {"event_id": event_id, "n": index, "images": [photo]})
    print(event_id, photo, flush=True)  # acknowledged to the "camera" only now
    index += 1
