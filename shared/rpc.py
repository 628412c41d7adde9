"""RPC service names in the environment's namespace: `rpc_service("retrieval")` is "retrieval" for
`make run`, "t1a2b3c4_retrieval" in a test session with GIBSEY_RPC_PREFIX=t1a2b3c4_. Functions name their
Nameko service with it (read when the module is imported, i.e. at `nameko run`), and callers address
services through it, so one RabbitMQ vhost can carry several environments without crossed calls."""

from __future__ import annotations

import os
from typing import Mapping

from shared.config import read_rpc_prefix


def rpc_service(base: str, env: Mapping[str, str] | None = None) -> str:
    return read_rpc_prefix(os.environ if env is None else env) + base
