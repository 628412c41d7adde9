"""The OpenAPI 3.1 description of every endpoint, served at `/openapi.json`.

Schemas here are the response contracts; tests validate the document and real responses against them.
"""

from __future__ import annotations

from typing import Any

from shared.chat.request import MAX_MESSAGE_CHARS
from shared.events.payloads import PAGE_ID_PATTERN
from shared.ledger.contracts import (ID_PATTERN, MAX_AMOUNT, MAX_HISTORY, MAX_LABEL, MAX_NOTES,
                                     MAX_VAULT_LIST)

_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {304: "Not modified (ETag matched)", 400: "Body is not a JSON object", 404: "No such page",
            409: "Refused by the branching policy (the reason is in detail)",
            422: "Malformed input (each field and why in detail)", 503: "A required dependency is unavailable",
            504: "The pipeline did not answer in time"}
    return {str(code): ({"description": text[code]} if code == 304 else _json(_ERROR_REF, text[code]))
            for code in codes}


_PAGE_PROPS: dict[str, Any] = {
    "page_id": {"type": "string", "pattern": PAGE_ID_PATTERN.pattern},
    "page_number": {"type": ["integer", "null"], "minimum": 1},
    "title": {"type": "string"},
    "text": {"type": "string"},
    "section": {"type": "integer", "minimum": 1, "maximum": 16},
    "character": {"type": "string"},
    "character_name": {"type": "string"},
    "colour": {"type": "string", "pattern": "^#[0-9A-F]{6}$"},
    "max_page_number": {"type": "integer", "minimum": 0},
}
_PAGE_ID_OR_NULL = {"type": ["string", "null"]}
_ID = {"type": "string", "pattern": ID_PATTERN.pattern}
_VAULT_ENTRY_PROPS: dict[str, Any] = {
    "session_id": _ID, "page_id": {"type": "string", "pattern": PAGE_ID_PATTERN.pattern},
    "label": {"type": ["string", "null"]}, "notes": {"type": ["string", "null"]},
    "saved_at": {"type": "string", "format": "date-time"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "detail"], "additionalProperties": False,
        "properties": {"error": {"type": "string"}, "detail": {"type": ["string", "null"]}},
    },
    "InsufficientCredits": {
        "type": "object", "required": ["error", "detail", "needed", "available"], "additionalProperties": False,
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                       "needed": {"type": "integer", "minimum": 1}, "available": {"type": "integer", "minimum": 0}},
    },
    "ChatRequest": {
        "type": "object", "required": ["session_id", "user_id", "char_id", "message", "request_id"],
        "additionalProperties": False,
        "properties": {"session_id": _ID, "user_id": _ID, "char_id": {"type": "string"},
                       "message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS},
                       "page_id": {"type": ["string", "null"], "pattern": PAGE_ID_PATTERN.pattern},
                       "request_id": {**_ID, "description": "a retried request is not charged again"}},
    },
    "Citation": {
        "type": "object", "required": ["page_id", "page_number", "loc", "quote"], "additionalProperties": False,
        "properties": {"page_id": {"type": "string"}, "page_number": {"type": "integer", "minimum": 1},
                       "loc": {"type": "string"}, "quote": {"type": "string"}},
    },
    "AskReply": {
        "type": "object", "required": ["answer", "citations", "credits", "generator"], "additionalProperties": False,
        "properties": {"answer": {"type": "string"}, "citations": {"type": "array", "minItems": 1,
                                                                   "items": {"$ref": "#/components/schemas/Citation"}},
                       "credits": {"type": "integer", "minimum": 0},
                       "generator": {"type": "string", "description": "llm:<model> or canon-composer"}},
    },
    "Credits": {
        "type": "object", "required": ["user_id", "balance"], "additionalProperties": False,
        "properties": {"user_id": _ID, "balance": {"type": "integer", "minimum": 0}},
    },
    "GiftRequest": {
        "type": "object", "required": ["from_user", "to_user", "amount"], "additionalProperties": False,
        "properties": {"from_user": _ID, "to_user": _ID,
                       "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
                       "request_id": {**_ID, "description": "makes a retry safe; made up by the gateway if absent"}},
    },
    "Gift": {
        "type": "object",
        "required": ["ok", "gifted", "request_id", "from_user", "to_user", "amount", "from_balance", "to_balance",
                     "needed", "available"],
        "properties": {"ok": {"const": True},
                       "gifted": {"type": "boolean", "description": "false when the request_id was already applied"},
                       "request_id": _ID, "from_user": _ID, "to_user": _ID, "amount": {"type": "integer"},
                       "from_balance": {"type": "integer"}, "to_balance": {"type": "integer"},
                       "needed": {"type": "integer"}, "available": {"type": "integer"}},
    },
    "VaultSaveRequest": {
        "type": "object", "required": ["session_id", "page_id"], "additionalProperties": False,
        "properties": {
            "session_id": _ID, "page_id": {"type": "string", "pattern": PAGE_ID_PATTERN.pattern},
            "label": {"type": "string", "maxLength": MAX_LABEL}, "notes": {"type": "string", "maxLength": MAX_NOTES},
            "user_id": {**_ID, "description": "who earns the reward; without it, the reader who paid in this "
                                               "session earns it (nobody, if no one has yet)"},
        },
    },
    "VaultSaved": {
        "type": "object",
        "required": [*_VAULT_ENTRY_PROPS, "new", "user_id", "reader_from", "credited", "earned", "balance"],
        "additionalProperties": False,
        "properties": {
            **_VAULT_ENTRY_PROPS, "new": {"type": "boolean"}, "user_id": {"type": ["string", "null"]},
            "reader_from": {"enum": ["request", "session", None],
                            "description": "where user_id came from: the request, or the session's first payer"},
            "credited": {"type": "boolean", "description": "true only the first time this user saves this page"},
            "earned": {"type": "integer", "minimum": 0}, "balance": {"type": ["integer", "null"]},
        },
    },
    "VaultList": {
        "type": "object", "required": ["session_id", "pages"], "additionalProperties": False,
        "properties": {"session_id": _ID, "pages": {"type": "array", "items": {
            "type": "object", "required": list(_VAULT_ENTRY_PROPS), "additionalProperties": False,
            "properties": _VAULT_ENTRY_PROPS}}},
    },
    "Page": {
        "type": "object", "required": list(_PAGE_PROPS), "additionalProperties": False, "properties": _PAGE_PROPS,
    },
    "HydratedPage": {
        "type": "object",
        "required": [*_PAGE_PROPS, "symbol_code", "orientation", "provenance", "trajectory", "edges", "index_signals"],
        "additionalProperties": False,
        "properties": {
            **_PAGE_PROPS,
            "symbol_code": {"type": "integer", "minimum": 0, "maximum": 255},
            "orientation": {"enum": ["X", "Y", "A", "Z"]},
            "provenance": {"enum": ["C", "P", "U", "S"]},
            "trajectory": {"enum": ["T0", "T1", "T2", "T3"]},
            "branch_depth": {"type": "integer", "minimum": 0,
                             "description": "pages away from the canon (0 on canon pages and their continuations)"},
            "edges": {
                "type": "object", "required": ["next", "loop_back_to", "forks", "mirrors"],
                "additionalProperties": False,
                "properties": {
                    "next": _PAGE_ID_OR_NULL, "loop_back_to": _PAGE_ID_OR_NULL,
                    "forks": {"type": "array", "items": {"type": "string"}},
                    "mirrors": {"type": "array", "items": {"type": "string"}},
                },
            },
            "index_signals": {"type": "object", "description": "empty until the page has been indexed"},
        },
    },
    "Character": {
        "type": "object", "required": ["index", "id", "name", "colour", "section", "symbol_codes"],
        "additionalProperties": False,
        "properties": {
            "index": {"type": "integer", "minimum": 0, "maximum": 15}, "id": {"type": "string"},
            "name": {"type": "string"}, "colour": {"type": "string", "pattern": "^#[0-9A-F]{6}$"},
            "section": {"type": "integer", "minimum": 1, "maximum": 16},
            "symbol_codes": {"type": "object", "required": ["first", "last"],
                             "properties": {"first": {"type": "integer"}, "last": {"type": "integer"}}},
        },
    },
    "Symbol": {
        "type": "object",
        "required": ["symbol_code", "hex", "char_hex", "character", "character_name", "colour", "behavior",
                     "notation", "orientation", "provenance", "label", "section"],
        "properties": {
            "symbol_code": {"type": "integer", "minimum": 0, "maximum": 255}, "hex": {"type": "string"},
            "char_hex": {"type": "integer", "minimum": 0, "maximum": 15}, "character": {"type": "string"},
            "character_name": {"type": "string"}, "colour": {"type": "string"},
            "behavior": {"type": "integer", "minimum": 0, "maximum": 15},
            "notation": {"type": "string", "pattern": "^[XYAZ][CPUS]$"},
            "orientation": {"enum": ["X", "Y", "A", "Z"]}, "provenance": {"enum": ["C", "P", "U", "S"]},
            "label": {"type": "string"}, "section": {"type": "integer"},
        },
    },
    "SymbolRequest": {
        "type": "object", "required": ["session_id", "symbol_code"], "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
            "symbol_code": {"type": "integer", "minimum": 0, "maximum": 255},
            "page_id": {"type": "string", "pattern": PAGE_ID_PATTERN.pattern},
            "user_intent": {"type": "string", "maxLength": 2000},
        },
    },
    "Accepted": {
        "type": "object", "required": ["event_id", "session_id"],
        "properties": {"event_id": {"type": "string", "format": "uuid"}, "session_id": {"type": "string"},
                       "locus": {"type": "string"}, "symbol_code": {"type": "integer"}},
    },
    "Envelope": {
        "type": "object", "required": ["event_id", "type", "version", "ts", "session_id", "payload"],
        "properties": {"event_id": {"type": "string"}, "type": {"type": "string"}, "version": {"type": "integer"},
                       "ts": {"type": "string", "format": "date-time"}, "session_id": {"type": "string"},
                       "payload": {"type": "object"}},
    },
    "SectionStats": {
        "type": "object", "required": ["section", "open_branches", "return_debt", "pages_generated"],
        "properties": {"section": {"type": "integer"}, "open_branches": {"type": "integer"},
                       "return_debt": {"type": "integer"}, "pages_generated": {"type": "integer"}},
    },
    "Health": {
        "type": "object", "required": ["status", "dependencies"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "down"]},
            "dependencies": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["name", "status", "required", "up", "latency_ms", "version", "detail"],
                "properties": {"status": {"enum": ["up", "down"]}, "latency_ms": {"type": "number"},
                               "version": {"type": ["string", "null"]}, "required": {"type": "boolean"}},
            }},
            "summaries": {"type": "object", "description": "the nightly summaries' last complete run (run_id, "
                          "completed_at, age_s) and last failure; status ok, stale, failing, none yet or unknown (informational)",
                          "required": ["status"], "properties": {"status": {
                              "enum": ["ok", "stale", "failing", "none yet", "unknown"]}}},
        },
    },
    "ClusterSummary": {
        "type": "object", "additionalProperties": False,
        "required": ["cluster_id", "run_id", "center_page", "member_pages", "page_labels", "keywords", "summary",
                     "generator", "words", "updated_at"],
        "properties": {
            "cluster_id": {"type": "integer", "minimum": 0}, "run_id": {"type": "string"},
            "center_page": {"type": "string"}, "member_pages": {"type": "array", "items": {"type": "string"}},
            "page_labels": {"type": "array", "items": {"type": "string"}},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "string", "description": "200-300 words citing member pages as (p.N)"},
            "generator": {"type": "string"}, "words": {"type": "integer"},
            "updated_at": {"type": "string", "format": "date-time"}},
    },
    "SummaryRun": {
        "type": "object", "required": ["run", "clusters"],
        "properties": {
            "run": {"type": "object", "required": ["run_id", "completed_at", "age_s"], "properties": {
                "run_id": {"type": ["string", "null"]}, "completed_at": {"type": ["string", "null"]},
                "age_s": {"type": ["number", "null"]}, "last_failure_at": {"type": ["string", "null"]},
                "last_error": {"type": ["string", "null"]}}},
            "clusters": {"type": "array", "items": {"$ref": "#/components/schemas/ClusterSummary"}}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_document() -> dict[str, Any]:
    page_number = {"name": "number", "in": "path", "required": True, "description": "global page number, 1..N",
                   "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    user_id = {"name": "user_id", "in": "path", "required": True, "schema": _ID}
    page_id = {"name": "page_id", "in": "path", "required": True,
               "description": "S{section:02d}-P{page:04d} for canon pages, a UUID for branches",
               "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gibsey gateway", "version": "1.0.0",
                 "description": "The REST face of The Entrance Way. Errors are JSON {error, detail}."},
        "paths": {
            "/health": {"get": {"summary": "Dependencies with status, latency and version", "operationId": "health",
                                "responses": {"200": _json(_ref("Health"), "Required dependencies are up"),
                                              "503": _json(_ref("Health"), "A required dependency is down")}}},
            "/pages/{number}": {"get": {
                "summary": "A canon page by its global number", "operationId": "pageByNumber",
                "parameters": [page_number],
                "responses": {"200": _json(_ref("Page"), "The page"), **_errors(404, 422, 503)}}},
            "/api/v1/page/{page_id}": {"get": {
                "summary": "A page with its symbol, edges and index signals", "operationId": "pageById",
                "parameters": [page_id],
                "responses": {"200": _json(_ref("HydratedPage"), "The hydrated page"), **_errors(404, 422, 503)}}},
            "/api/v1/qdpi/characters": {"get": {
                "summary": "The 16 characters with their colours", "operationId": "characters",
                "responses": {"200": _json({"type": "object", "required": ["characters"], "properties": {
                    "characters": {"type": "array", "minItems": 16, "maxItems": 16, "items": _ref("Character")}}},
                    "The characters (ETag)"), **_errors(304)}}},
            "/api/v1/qdpi/manifest": {"get": {
                "summary": "All 256 symbols and the 16 behaviours", "operationId": "manifest",
                "responses": {"200": _json({"type": "object", "required": ["symbols", "behaviours"], "properties": {
                    "symbols": {"type": "array", "minItems": 256, "maxItems": 256, "items": _ref("Symbol")},
                    "behaviours": {"type": "array", "minItems": 16, "maxItems": 16}}},
                    "The manifest (ETag)"), **_errors(304)}}},
            "/api/v1/event/ui/symbol": {"post": {
                "summary": "A reader picks a symbol; the page arrives on their stream", "operationId": "postSymbol",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SymbolRequest")}}},
                "responses": {"202": _json(_ref("Accepted"), "Queued on gibsey.ui.symbol"),
                              **_errors(400, 404, 422, 503)}}},
            "/api/v1/event/stream": {"get": {
                "summary": "Server-Sent Events for one session", "operationId": "eventStream",
                "description": "First `connection`, then `page.done` and `pipeline.error` events whose data is an "
                               "Envelope; `: keep-alive` comments every 15 s; send Last-Event-ID to resume.",
                "parameters": [{"name": "session_id", "in": "query", "required": True, "schema": {"type": "string"}},
                               {"name": "Last-Event-ID", "in": "header", "required": False,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "text/event-stream",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              **_errors(422)}}},
            "/api/v1/pipeline/run/symbol/{code}": {"post": {
                "summary": "Run the whole QDPI cycle synchronously (through RPC)", "operationId": "runSymbol",
                "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"session_id": {"type": "string"}, "page_id": {"type": "string"},
                                                     "user_intent": {"type": "string"}}}}}},
                "responses": {"200": _json(_ref("Envelope"), "The PageGenerated envelope"),
                              **_errors(400, 404, 422, 503, 504)}}},
            "/api/v1/branch/{page_id}": {"post": {
                "summary": "Fork a branch from a page (policy applies)", "operationId": "branch",
                "parameters": [page_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["session_id"],
                    "properties": {"session_id": {"type": "string"}, "user_intent": {"type": "string"}}}}}},
                "responses": {"202": _json(_ref("Accepted"), "Fork requested"), **_errors(400, 404, 409, 422, 503)}}},
            "/api/v1/pipeline/stats/section/{section}": {"get": {
                "summary": "A section's counters", "operationId": "sectionStats",
                "parameters": [{"name": "section", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("SectionStats"), "Counters"), **_errors(422, 503)}}},
            "/api/v1/retrieve": {"get": {
                "summary": "Quotes of the book closest to a query", "operationId": "retrieve",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 500}},
                    {"name": "k", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 12}},
                    {"name": "character", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "section", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 16}}],
                "responses": {"200": _json({"type": "object", "required": ["results", "took_ms"], "properties": {
                    "took_ms": {"type": "number"},
                    "results": {"type": "array", "items": {"type": "object", "required": [
                        "page_id", "page_number", "section", "character", "loc", "quote", "score"]}}}},
                    "Ranked quotes"), **_errors(422, 503, 504)}}},
            "/api/v1/users/{user_id}/credits": {"get": {
                "summary": "A user's credit balance (an unknown user's account opens with the grant)",
                "operationId": "credits", "parameters": [user_id],
                "responses": {"200": _json(_ref("Credits"), "The balance"), **_errors(422, 503, 504)}}},
            "/api/v1/users/{user_id}/ledger.csv": {"get": {
                "summary": "A user's credit history as CSV, newest first", "operationId": "ledgerCsv",
                "parameters": [user_id, {"name": "limit", "in": "query", "required": False, "schema": {
                    "type": "integer", "minimum": 1, "maximum": MAX_HISTORY, "default": 1000}}],
                "responses": {"200": {"description": "ts,delta,reason,request_id,balance_after",
                                      "content": {"text/csv": {"schema": {"type": "string"}}}},
                              **_errors(422, 503, 504)}}},
            "/api/v1/credits/gift": {"post": {
                "summary": "Give credits to another user (idempotent by request_id)", "operationId": "gift",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("GiftRequest")}}},
                "responses": {"200": _json(_ref("Gift"), "Gifted (or already gifted under this request_id)"),
                              "402": _json(_ref("InsufficientCredits"), "The giver is short; nothing moved"),
                              "409": _json(_ERROR_REF, "The request_id was used for a different request"),
                              **_errors(400, 422, 503, 504)}}},
            "/api/v1/vault": {
                "post": {
                    "summary": "Save a page to a session's vault (its reader earns the reward, once per page)",
                    "operationId": "vaultSave",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": _ref("VaultSaveRequest")}}},
                    "responses": {"201": _json(_ref("VaultSaved"), "Saved"),
                                  "200": _json(_ref("VaultSaved"), "Already saved: label/notes updated, no reward"),
                                  **_errors(400, 404, 422, 503, 504)}},
                "get": {
                    "summary": "A session's saved pages, newest first", "operationId": "vaultList",
                    "parameters": [{"name": "session_id", "in": "query", "required": True, "schema": _ID},
                                   {"name": "limit", "in": "query", "required": False, "schema": {
                                       "type": "integer", "minimum": 1, "maximum": MAX_VAULT_LIST, "default": 100}}],
                    "responses": {"200": _json(_ref("VaultList"), "The pages"), **_errors(422, 503, 504)}}},
            "/api/v1/chat": {"post": {
                "summary": "Ask a character; the answer streams as SSE (connection, token, citation, done | error)",
                "operationId": "chat",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatRequest")}}},
                "responses": {"200": {"description": "text/event-stream: `token` {char_id, color, token}, `citation` "
                                                     "{page_id, page_number, loc, quote}, `done` {answer, citations, "
                                                     "credits_left, generator, book_note}; `error` {stage, error, refunded, "
                                                     "credits_left} if the turn failed (it is refunded)",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "402": _json(_ref("InsufficientCredits"), "Short of credits; nothing was charged"),
                              **_errors(400, 404, 422, 503, 504)}}},
            "/api/v1/ask": {"post": {
                "summary": "The chat turn as one JSON reply, for clients without SSE", "operationId": "ask",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatRequest")}}},
                "responses": {"200": _json(_ref("AskReply"), "The grounded answer"),
                              "402": _json(_ref("InsufficientCredits"), "Short of credits; nothing was charged"),
                              "502": _json(_ERROR_REF, "The turn failed after it began (it is refunded)"),
                              **_errors(400, 404, 422, 503, 504)}}},
            "/api/v1/summaries": {"get": {
                "summary": "The latest complete nightly run of cluster summaries", "operationId": "summaries",
                "responses": {"200": _json(_ref("SummaryRun"), "The run (clusters is empty before the first run)"),
                              **_errors(503)}}},
            "/api/v1/summaries/{cluster_id}": {"get": {
                "summary": "One cluster's summary from the latest complete run", "operationId": "summaryByCluster",
                "parameters": [{"name": "cluster_id", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
                "responses": {"200": _json(_ref("ClusterSummary"), "The cluster"), **_errors(404, 422, 503)}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
        },
        "components": {"schemas": SCHEMAS},
    }
