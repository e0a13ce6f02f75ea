"""The stages of a deployment by name, in start order (consumers before their producers)."""

from __future__ import annotations

from vehicle_mw.runtime.deployment import Deployment
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.stage import Stage
from vehicle_mw.signals import SignalCatalog

UPLINK, SOMEIP, DECODE, CAN = "uplink", "someip", "decode", "can"
ORDER = (UPLINK, SOMEIP, DECODE, CAN)


def stage_names(dep: Deployment) -> list[str]:
    """The stages this deployment has (no someip stage without services, no CAN stages without buses)."""
    names = [UPLINK]
    if dep.services:
        names.append(SOMEIP)
    if dep.buses:
        names += [DECODE, CAN]
    return names


def build_stage(
    name: str, dep: Deployment, plan: RingPlan | None = None, catalog: SignalCatalog | None = None
) -> Stage:
    """One stage, attached to the deployment's rings (created if this is the first to open them)."""
    plan = plan or RingPlan.of(dep)
    if catalog is None and name in (DECODE, UPLINK):
        from vehicle_mw.runtime.signals import load_can_catalog

        catalog = load_can_catalog(dep)[0]
    if name == CAN:
        from vehicle_mw.runtime.stage_can import CanStage

        return CanStage(dep, plan)
    if name == DECODE:
        from vehicle_mw.runtime.stage_decode import DecodeStage

        return DecodeStage(dep, plan, catalog)
    if name == UPLINK:
        from vehicle_mw.runtime.signals import deployment_catalog
        from vehicle_mw.runtime.stage_uplink import UplinkStage

        return UplinkStage(dep, plan, deployment_catalog(dep, catalog))
    if name == SOMEIP:
        from vehicle_mw.runtime.stage_someip import SomeIpStage

        return SomeIpStage(dep, plan)
    raise ValueError(f"unknown stage {name!r}; stages are {', '.join(ORDER)}")


__all__ = ["CAN", "DECODE", "ORDER", "SOMEIP", "UPLINK", "build_stage", "stage_names"]
