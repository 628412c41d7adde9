"""symbols: answers queries about the 256-symbol system over Nameko RPC.

Owns:   RPC `symbols.describe(code)` and `symbols.manifest()`.
Writes: nothing.  Emits: nothing.
Other functions ask it instead of carrying their own copy of the tables; the tables themselves live once,
in shared.symbols.
"""

from __future__ import annotations

from nameko.rpc import rpc

from shared import symbols
from shared.rpc import rpc_service


class SymbolsService:
    name = rpc_service("symbols")

    @rpc
    def describe(self, code: int) -> dict[str, object]:
        """One symbol as a manifest entry; an out-of-range code raises SymbolError to the caller."""
        return symbols.symbol(symbols.check_code(code)).as_manifest_entry()

    @rpc
    def manifest(self) -> list[dict[str, object]]:
        return [sym.as_manifest_entry() for sym in symbols.all_symbols()]
