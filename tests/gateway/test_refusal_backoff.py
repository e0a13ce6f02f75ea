"""A vehicle the gateway refuses: the reason at the default log level, and exponential backoff."""

from __future__ import annotations

import asyncio
import logging
import random

from vehicle_mw.channel import Uplink
from vehicle_mw.channel.session import refused_delay
from vehicle_mw.gateway import Gateway, issue_token, load_secret, new_secret_file
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.store import Outbox

from .helpers import local_config, run


def test_refusal_delays_double_and_are_capped():
    rng = random.Random(3)
    for n in range(1, 12):
        ceiling = min(60.0, 2.0 ** (n - 1))
        draws = [refused_delay(n, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert len({round(d, 6) for d in draws}) > 150  # jittered
    assert max(refused_delay(80, rng) for _ in range(100)) <= 60.0


def test_refused_vehicle_logs_the_reason_and_backs_off(tmp_path, caplog):
    secret = new_secret_file(tmp_path / "token.secret")
    cfg = local_config(tmp_path, http_port=None, token_secret_file=str(secret))
    window_s = 4.0

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            token = issue_token(load_secret(secret), "OTHER", 3600)
            channel = ChannelConfig(
                vehicle_id="VIN1",
                auth_token=token,
                grpc_target=gw.grpc_target,
                websocket_url=gw.ws_url,
                outbox={"directory": str(tmp_path / "outbox")},
            )
            outbox = Outbox(channel.outbox.directory, channel.outbox)
            uplink = Uplink(channel, outbox)
            task = asyncio.create_task(uplink.run())
            await asyncio.sleep(window_s)  # the window whose attempts are counted, not a wait for work
            uplink.stop()
            await task
            outbox.close()

    with caplog.at_level(logging.WARNING):
        run(scenario())
    vehicle = [r for r in caplog.records if r.name.startswith("vehicle_mw.channel")]
    reasons = [r.getMessage() for r in vehicle if r.levelno >= logging.WARNING]
    assert any("PERMISSION_DENIED: token is for OTHER" in m for m in reasons), reasons
    assert len(reasons) <= 2, reasons  # once per transport and reason, not per attempt
    attempts = {
        t: sum(
            1 for r in caplog.records if '"event": "refused"' in r.getMessage() and f'"{t}"' in r.getMessage()
        )
        for t in ("grpc", "websocket")
    }
    # tries at 0, >= 0.5, >= 1.5, >= 3.5 s: at most 4 per transport in 4 s (was ~8-10 every 100-300 ms)
    assert all(1 <= n <= 4 for n in attempts.values()), attempts
