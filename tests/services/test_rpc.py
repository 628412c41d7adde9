"""Two real Nameko services talking RPC over the real RabbitMQ (runs under `nameko test`, eventlet-patched)."""

import pytest
from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, rpc
from nameko.standalone.rpc import ClusterRpcProxy

from functions.symbols.service import SymbolsService

pytestmark = pytest.mark.integration


class ReaderDeskService:
    """A second service, standing in for any function that asks `symbols` a question."""

    name = "reader_desk"
    symbols = RpcProxy("symbols")

    @rpc
    def label_for(self, code):
        entry = self.symbols.describe(code)
        return f"{entry['character_name']} / {entry['label']}"


@pytest.fixture
def running_services(stack_settings, run_services):
    with run_services(stack_settings.nameko_config, SymbolsService, ReaderDeskService) as config:
        yield config


def test_one_service_calls_another_over_rabbitmq(running_services):
    with ClusterRpcProxy(running_services, timeout=30) as cluster:
        assert cluster.reader_desk.label_for(0x1C) == "London Fox / Receive, Canon"
        manifest = cluster.symbols.manifest()
    assert len(manifest) == 256
    assert manifest[255]["notation"] == "ZS"


def test_errors_cross_the_wire_with_their_type(running_services):
    with ClusterRpcProxy(running_services, timeout=30) as cluster:
        with pytest.raises(RemoteError) as direct:
            cluster.symbols.describe(256)
        with pytest.raises(RemoteError) as relayed:
            cluster.reader_desk.label_for(256)
    assert direct.value.exc_type == "SymbolError"
    assert direct.value.value == "symbol_code must be 0..255, got 256"
    # The caller did not handle it, so it arrives wrapped once more, the original type named in the message.
    assert relayed.value.exc_type == "RemoteError"
    assert relayed.value.value == "SymbolError symbol_code must be 0..255, got 256"
