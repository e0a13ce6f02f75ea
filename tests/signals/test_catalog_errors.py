"""Messages a DBC parser accepts but no CAN frame can carry are skipped by name, not fatal."""

from __future__ import annotations

import logging

from vehicle_mw.signals import Decoder, load_catalog

DBC = """VERSION ""

NS_ :

BS_:

BU_: Node

BO_ 1024 Good: 8 Node
 SG_ Speed : 0|16@1+ (0.1,0) [0|6553.5] "km/h" Vector__XXX

BO_ 1025 Negative: -8 Node
 SG_ Rpm : 0|16@1+ (1,0) [0|65535] "" Vector__XXX

BO_ 1026 TooLong: 72 Node
 SG_ Temp : 0|8@1+ (1,0) [0|255] "" Vector__XXX
"""


def test_a_frame_length_outside_0_to_64_skips_that_message_only(tmp_path, caplog):
    path = tmp_path / "odd.dbc"
    path.write_text(DBC)
    with caplog.at_level(logging.WARNING, logger="vehicle_mw.signals"):
        catalog = load_catalog(path, strict=False)  # strict cantools refuses such a DBC outright
    names = sorted(s.name for s in catalog.signals)
    assert names == ["Good.Speed"]
    Decoder(catalog)  # builds (an OverflowError before)
    text = caplog.text
    assert "message Negative has length -8" in text
    assert "message TooLong has length 72" in text
