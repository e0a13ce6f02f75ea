"""Child process for the kill -9 test: appends forever, printing each acknowledged append."""

import sys

import numpy as np

from vehicle_mw.manifest.channel import OutboxConfig
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.store import Outbox


def main() -> None:
    directory, policy = sys.argv[1], sys.argv[2]
    cfg = OutboxConfig(directory=directory, fsync=policy, segment_bytes=1 << 20, max_bytes=64 << 20)
    box = Outbox(directory, cfg)
    n = 0
    chunk = 5000  # several batches, one os.write each
    while True:
        s = np.zeros(chunk, SAMPLE_DTYPE)
        s["source_seq"] = np.arange(n, n + chunk)
        box.append(s)
        n += chunk
        print(n, flush=True)  # every sample below n is durable (kill -9 keeps the page cache)


if __name__ == "__main__":
    main()
