"""Calling Nameko services from the async gateway: each call runs in a thread (Nameko's standalone proxy
is blocking), and its failures are mapped here to errors the gateway's table turns into HTTP."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy


class RpcUnavailable(RuntimeError):
    """RabbitMQ or the service is not there (HTTP 503)."""


class RpcTimedOut(RuntimeError):
    """The service did not answer in time (HTTP 504)."""


class RemoteRejected(ValueError):
    """The service refused the input (HTTP 422/404, by the remote error's type)."""

    def __init__(self, exc_type: str, message: str):
        self.exc_type = exc_type
        super().__init__(message)


class ServiceCaller:
    """Keeps a few started proxies (one AMQP connection and reply queue each) and lends one to each call:
    setting a proxy up costs more than a fast query, and a proxy must not be shared by two threads at once."""

    def __init__(self, config: dict[str, Any], timeout_s: float = 90.0, pool_size: int = 4):
        self._config = config
        self._prefix = str(config.get("GIBSEY_RPC_PREFIX") or "")  # the environment's RPC namespace
        self._timeout_s = timeout_s
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = asyncio.Semaphore(pool_size)

    async def call(self, service: str, method: str, **kwargs: Any) -> Any:
        async with self._slots:
            return await asyncio.to_thread(self._call, self._prefix + service, method, kwargs)

    def _borrow(self) -> tuple[ClusterRpcProxy, Any]:
        """A started proxy and the cluster handle its start() returned."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            proxy = ClusterRpcProxy(self._config, timeout=self._timeout_s)
            return proxy, proxy.start()

    def _call(self, service: str, method: str, kwargs: dict[str, Any]) -> Any:
        try:
            proxy, cluster = self._borrow()
        except (OperationalError, OSError) as exc:
            raise RpcUnavailable(f"RabbitMQ is not reachable: {exc}") from exc
        healthy = False
        try:
            result = getattr(getattr(cluster, service), method)(**kwargs)
            healthy = True
            return result
        except RemoteError as exc:
            healthy = True
            raise RemoteRejected(exc.exc_type, exc.value) from exc
        except RpcTimeout as exc:
            raise RpcTimedOut(f"{service}.{method} did not answer within {self._timeout_s:.0f} s") from exc
        except UnknownService as exc:
            healthy = True
            raise RpcUnavailable(f"no {service} service is running") from exc
        except (OperationalError, OSError) as exc:
            raise RpcUnavailable(f"RabbitMQ is not reachable: {exc}") from exc
        finally:
            if healthy:
                self._idle.put((proxy, cluster))
            else:  # a timed-out or broken proxy may still receive a late reply: never lend it again
                _stop_quietly(proxy)

    async def close(self) -> None:
        while not self._idle.empty():
            await asyncio.to_thread(_stop_quietly, self._idle.get_nowait()[0])


def _stop_quietly(proxy: ClusterRpcProxy) -> None:
    try:
        proxy.stop()
    except Exception:  # noqa: BLE001 - closing a broken connection; nothing left to do with the error
        pass
