"""`GET /api/v1/qdpi/characters` and `/api/v1/qdpi/manifest`: the symbol system, with an ETag.

The documents are built once from shared.symbols; clients that send the ETag back get 304.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import falcon
import falcon.asgi

from shared import symbols


class StaticDocumentResource:
    """A JSON document that only changes with a deploy: strong ETag, revalidate on every use."""

    def __init__(self, document: Any):
        self._body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        self._etag = hashlib.sha256(self._body).hexdigest()[:20]

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.etag = self._etag
        resp.cache_control = ["public", "max-age=0", "must-revalidate"]
        if req.if_none_match and any(tag == "*" or tag == self._etag for tag in req.if_none_match):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


def characters_document() -> dict[str, Any]:
    return {
        "characters": [
            {"index": c.index, "id": c.id, "name": c.display_name, "colour": c.colour, "section": c.section,
             "symbol_codes": {"first": symbols.encode(c.index, 0), "last": symbols.encode(c.index, 15)}}
            for c in symbols.CHARACTERS
        ]
    }


def manifest_document() -> dict[str, Any]:
    return {
        "behaviours": [{"index": b.index, "notation": b.notation, "orientation": b.orientation.value,
                        "provenance": b.provenance.value, "label": b.label} for b in symbols.BEHAVIOURS],
        "symbols": [s.as_manifest_entry() for s in symbols.all_symbols()],
    }
