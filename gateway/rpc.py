"""Calling Nameko services from the async gateway: each call runs in a thread (Nameko's standalone proxy
is blocking), and its failures are mapped here to errors the gateway's table turns into HTTP."""

from __future__ import annotations

import asyncio
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
    def __init__(self, config: dict[str, Any], timeout_s: float = 90.0):
        self._config = config
        self._timeout_s = timeout_s

    async def call(self, service: str, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._call, service, method, kwargs)

    def _call(self, service: str, method: str, kwargs: dict[str, Any]) -> Any:
        try:
            with ClusterRpcProxy(self._config, timeout=self._timeout_s) as cluster:
                return getattr(getattr(cluster, service), method)(**kwargs)
        except RpcTimeout as exc:
            raise RpcTimedOut(f"{service}.{method} did not answer within {self._timeout_s:.0f} s") from exc
        except UnknownService as exc:
            raise RpcUnavailable(f"no {service} service is running") from exc
        except RemoteError as exc:
            raise RemoteRejected(exc.exc_type, exc.value) from exc
        except (OperationalError, OSError) as exc:
            raise RpcUnavailable(f"RabbitMQ is not reachable: {exc}") from exc
