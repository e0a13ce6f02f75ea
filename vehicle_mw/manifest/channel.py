"""Configuration of the vehicle-cloud channel (``channel:`` section / ``vmw channel`` file).

Three parts: where the outbox lives and how durable it is, where the gateway is and how the
vehicle proves who it is, and when the negotiator moves between gRPC and WebSocket.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import StrictModel


class OutboxConfig(StrictModel):
    """Durable outbox: segment files on disk, bounded, fsync policy."""

    directory: str = Field("outbox", description="folder holding segment files and the state file")
    max_bytes: int = Field(256 * 1024 * 1024, ge=64 * 1024, description="size bound of all segments together")
    segment_bytes: int = Field(4 * 1024 * 1024, ge=4096, description="a segment is closed past this size")
    fsync: Literal["batch", "interval", "none"] = Field(
        "interval", description="batch: fsync every append; interval: at most every fsync_interval_s; none"
    )
    fsync_interval_s: float = Field(
        0.02,
        gt=0,
        description="fsync period for fsync: interval; only synced batches are sent, so this bounds"
        " the added latency (raise it on wear-sensitive flash)",
    )
    max_batch_samples: int = Field(
        2048, ge=1, le=65536, description="appends are split into batches this big"
    )
    linger_ms: float = Field(
        20.0,
        ge=0,
        le=1000,
        description="the runtime collects samples of every source this long into one append: fewer,"
        " bigger batches cost less CPU per sample at both ends and add at most this much latency",
    )

    @model_validator(mode="after")
    def _segment_fits(self) -> OutboxConfig:
        if self.segment_bytes * 2 > self.max_bytes:
            raise ValueError("segment_bytes must be at most half of max_bytes")
        return self


class TlsConfig(StrictModel):
    """TLS towards the gateway; with cert_file/key_file it is mutual TLS."""

    ca_file: str = Field(description="PEM bundle of the CA(s) that signed the gateway certificate")
    cert_file: str | None = Field(None, description="client certificate (PEM) for mutual TLS")
    key_file: str | None = Field(None, description="client private key (PEM) for mutual TLS")
    server_name: str | None = Field(
        None, description="name expected in the gateway certificate, if not the host"
    )

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class PolicyConfig(StrictModel):
    """When to leave the active transport and when to come back (see docs/channel.md)."""

    prefer: Literal["grpc", "websocket"] = Field("grpc", description="transport used while links are healthy")
    rtt_high_ms: float = Field(250.0, gt=0, description="active RTT (srtt) above this is impaired")
    rtt_low_ms: float = Field(120.0, gt=0, description="a link is healthy again below this RTT")
    loss_high: float = Field(0.2, ge=0, le=1, description="active loss ratio above this is impaired")
    loss_low: float = Field(0.05, ge=0, le=1, description="a link is healthy again below this loss ratio")
    min_dwell_s: float = Field(
        3.0, ge=0, description="no voluntary switch sooner than this after the last one"
    )
    flap_penalty_s: float = Field(3.0, ge=0, description="extra dwell per recent switch (anti-flap)")
    flap_half_life_s: float = Field(30.0, gt=0, description="half-life of the anti-flap penalty")
    min_samples: int = Field(3, ge=1, description="probe answers needed before a link's RTT is trusted")

    @model_validator(mode="after")
    def _hysteresis(self) -> PolicyConfig:
        if self.rtt_low_ms > self.rtt_high_ms:
            raise ValueError("rtt_low_ms must not exceed rtt_high_ms (hysteresis)")
        if self.loss_low > self.loss_high:
            raise ValueError("loss_low must not exceed loss_high (hysteresis)")
        return self


class ChannelConfig(StrictModel):
    """Vehicle side of the cloud link."""

    vehicle_id: str = Field(min_length=1, description="vehicle identity sent in Hello")
    software_version: str = Field("", description="reported in Hello")
    auth_token: str = Field(
        "", description="opaque token sent in Hello when the identity is not a client cert"
    )
    grpc_target: str | None = Field(None, description="gRPC endpoint host:port (service VehicleLink)")
    websocket_url: str | None = Field(None, description="WebSocket endpoint ws(s)://host:port/v1/link")
    tls: TlsConfig | None = Field(None, description="TLS settings; required for wss:// and TLS gRPC")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    probe_interval_s: float = Field(0.25, gt=0, description="probe period on every link (active and standby)")
    loss_window: int = Field(20, ge=4, description="probes in the loss sliding window")
    connect_timeout_s: float = Field(3.0, gt=0, description="connect + Hello/Welcome must finish within this")
    backoff_initial_s: float = Field(0.1, gt=0, description="first reconnect delay")
    backoff_max_s: float = Field(5.0, gt=0, description="reconnect delay cap (exponential, full jitter)")
    max_inflight_batches: int = Field(32, ge=1, description="batches sent but not yet acknowledged")
    compression: Literal["none", "zlib"] = Field("none", description="SampleBatch column compression")
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="largest frame accepted from the gateway"
    )
    status_interval_s: float = Field(5.0, gt=0, description="VehicleStatus period")

    @model_validator(mode="after")
    def _endpoints(self) -> ChannelConfig:
        if not self.grpc_target and not self.websocket_url:
            raise ValueError("at least one of grpc_target and websocket_url is needed")
        if self.websocket_url and not self.websocket_url.startswith(("ws://", "wss://")):
            raise ValueError("websocket_url must start with ws:// or wss://")
        if self.websocket_url and self.websocket_url.startswith("wss://") and self.tls is None:
            raise ValueError("wss:// needs a tls section (ca_file)")
        return self


__all__ = ["ChannelConfig", "OutboxConfig", "PolicyConfig", "TlsConfig"]
