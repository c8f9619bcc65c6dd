"""The Ray runtime a driver uses: a local one on loopback that dies with the driver, or a cluster.

``connect_ray`` is what every driver of this project calls (zoo generation, data-parallel
hyper-representation training); the :class:`RaySession` it returns is ended by the same
caller, and a local runtime is also ended by a watchdog if the caller dies first.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from zoo.reaper import Reaper, start_reaper


@dataclass
class RaySession:
    """A Ray runtime this process started or connected to; ``reaper`` only for a local one."""

    reaper: Reaper | None = None

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        if self.reaper is not None:  # after a clean shutdown the watchdog has nothing to kill
            self.reaper.stop()
            self.reaper = None


# Ray's documented switch for single-machine mode (the default on macOS and Windows): with it
# off, Ray gives a new local node the loopback address instead of the machine's routable one,
# so every service it starts listens on 127.0.0.1. Ray reads it when it is first imported.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = "127.0.0.1"


class RayNotOnLoopbackError(RuntimeError):
    """Ray was imported before single-machine mode could be asked for; the runtime it would
    start listens on the machine's network address."""


def init_local_ray(num_cpus: int | None = None, dashboard: bool = False) -> RaySession:
    """Start a new single-node runtime whose services listen on 127.0.0.1 only, and a
    watchdog that ends all of it when this process dies (:mod:`zoo.reaper`).

    ``address="local"`` never attaches to another ``ray start`` cluster on the machine. The
    loopback address comes from Ray's single-machine switch (``LOOPBACK_ENV=0``), which Ray
    reads when this process first imports it and which the Ray processes started here
    inherit. A process that imported Ray earlier without it gets RayNotOnLoopbackError
    instead of a runtime that listens on the network (set the variable before importing
    Ray, or pass an address).
    """
    saved = os.environ.get(LOOPBACK_ENV)
    os.environ[LOOPBACK_ENV] = "0"
    try:
        import ray

        # the address Ray gives a node started now: loopback exactly when the switch was read
        if ray.util.get_node_ip_address() != LOOPBACK:
            raise RayNotOnLoopbackError(
                f"Ray was imported in this process before {LOOPBACK_ENV}=0 was set, so a local runtime would "
                "listen on the network; set it before importing ray, or pass a cluster address")
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard, dashboard_host=LOOPBACK,
                 configure_logging=False)
        return RaySession(start_reaper())
    finally:  # the Ray processes started above keep it; this process's children need not
        if saved is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = saved


def connect_ray(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False) -> RaySession | None:
    """Connect to the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local runtime
    on loopback. Returns None when this process already had Ray initialised (whoever did
    that ends it), else the session to end with :meth:`RaySession.shutdown`."""
    imported = sys.modules.get("ray")  # not imported here: a local runtime has to import it first
    if imported is not None and imported.is_initialized():
        return None
    if address is None and not os.environ.get("RAY_ADDRESS"):
        return init_local_ray(num_cpus=num_cpus, dashboard=dashboard)
    import ray

    ray.init(address=address, configure_logging=False)
    return RaySession()
