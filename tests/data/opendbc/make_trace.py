"""Regenerates prius_random.log: every message of the DBC with seeded random payloads (candump format)."""

import pathlib
import random

import cantools

HERE = pathlib.Path(__file__).parent


def main() -> None:
    db = cantools.database.load_file(HERE / "toyota_prius_2010_pt.dbc")
    rng = random.Random(20261122)
    lines = []
    t = 1_700_000_000.0
    for _ in range(40):
        for msg in sorted(db.messages, key=lambda m: m.frame_id):
            t += rng.uniform(0.0001, 0.002)
            data = bytes(rng.getrandbits(8) for _ in range(msg.length))
            lines.append(f"({t:.6f}) can0 {msg.frame_id:03X}#{data.hex().upper()}")
    # a few frames no database knows, and one too short for its message
    lines.append(f"({t + 0.001:.6f}) can0 7FF#0102")
    lines.append(f"({t + 0.002:.6f}) can0 7FF#0304")
    short = sorted(db.messages, key=lambda m: m.frame_id)[0]
    lines.append(f"({t + 0.003:.6f}) can0 {short.frame_id:03X}#")
    (HERE / "prius_random.log").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
