"""At-least-once for real: a page_generator killed in the middle of a handler is redelivered the request
when it comes back, and the page exists exactly once.

Its own module, so no other consumer group's functions run meanwhile (they would write the page first).
The LLM is the Ollama TEST DOUBLE, told to hang on the first call: that is where the handler gets killed.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from contextlib import contextmanager
from datetime import timezone
from types import SimpleNamespace
from typing import Iterator

import pytest
from cassandra.util import datetime_from_uuid1

from functions.page_generator.generate import generate
from shared.events import decode_event
from shared.qdpi.composer import compose_from_canon
from shared.storage.pipeline import PipelineStore
from tests.doubles.ollama import OllamaDouble, dspy_reply
from tests.integration.flow_support import function, post_symbol, stream

pytestmark = pytest.mark.integration


@contextmanager
def _held_in_the_llm_call(gateway: str, env: dict[str, str], prefix: str, locus: str) -> Iterator[SimpleNamespace]:
    """The enricher and a page_generator on consumer groups of their own, a reader's stream, and a symbol
    posted; yields once the generator's handler is inside the LLM call, where the TEST DOUBLE holds it
    (`run.llm`, `run.own` (the functions' env), `run.enricher`, `run.generator`, `run.session`, `run.sse`)."""
    with OllamaDouble(reply=dspy_reply()) as llm:
        llm.delay_s = 120.0
        own = {**env, "GIBSEY_CONSUMER_GROUP_PREFIX": f"kill-{uuid.uuid4().hex[:8]}-", "OLLAMA_BASE_URL": llm.url}
        run = SimpleNamespace(llm=llm, own=own, enricher=function("enricher", own),
                              generator=function("page_generator", own), session=f"{prefix}-{uuid.uuid4().hex[:8]}")
        try:
            run.sse = stream(gateway, run.session)
            post_symbol(gateway, run.session, 0x50, locus)
            deadline = time.monotonic() + 30
            while llm.count("/api/chat") == 0:
                assert time.monotonic() < deadline, ("page_generator never called the LLM: "
                                                     + "".join(run.enricher.lines[-20:] + run.generator.lines[-20:]))
                time.sleep(0.1)
            yield run
        finally:
            run.generator.stop()
            run.enricher.stop()


def _restart_generator(run: SimpleNamespace) -> None:
    """SIGKILL the held generator, let the double answer at once, and start a new generator process."""
    run.generator.stop(signal.SIGKILL)
    run.llm.delay_s = 0.0
    run.generator = function("page_generator", run.own)


def test_a_page_generator_killed_mid_handler_is_redelivered_and_writes_once(gateway, env, cassandra_session,
                                                                           stack_settings):
    with _held_in_the_llm_call(gateway, env, "killed", "S06-P0017") as run:
        _restart_generator(run)
        done = json.loads(run.sse.next("page.done", timeout=90)["data"])["payload"]
        assert done["validation"]["generator"] == f"llm:{stack_settings.ollama_model}"
        run.sse.close()

        ks = stack_settings.cassandra_keyspace
        pages = cassandra_session.execute(f"SELECT page_id FROM {ks}.pages WHERE session_id = %s ALLOW FILTERING",
                                          (run.session,)).all()
        assert [p.page_id for p in pages] == [done["page_id"]]
        logged = cassandra_session.execute(f"SELECT event_id, type FROM {ks}.events_log WHERE session_id = %s",
                                           (run.session,)).all()
        assert len({r.event_id for r in logged if r.type == "PageGenerated"}) == 1


def _logged_request(cassandra_session, ks: str, session: str):
    """The PageRequested the generator logged on entering its handler, as the envelope it received."""
    for _ in range(100):
        row = cassandra_session.execute(f"SELECT event_id, ts, payload_json FROM {ks}.events_log WHERE session_id = %s "
                                        f"AND type = 'PageRequested' ALLOW FILTERING", (session,)).one()
        if row is not None:
            ts = datetime_from_uuid1(row.ts).replace(tzinfo=timezone.utc)
            return decode_event({"event_id": row.event_id, "type": "PageRequested", "version": 1,
                                 "ts": ts.isoformat(), "session_id": session, "payload": json.loads(row.payload_json)})
        time.sleep(0.1)
    raise AssertionError("the generator never logged the request")


def test_a_page_generator_killed_after_the_page_is_written_emits_done_once(gateway, env, cassandra_session,
                                                                           stack_settings):
    """Killed after its page row was written, before the claim, the done event and the offset commit. The
    handler cannot be stopped at that instant reliably from outside, so it is held in the LLM call and its
    last write is made for it (`generate`, with the placement the handler stored); then it is killed. The
    redelivery must find the page, call no LLM, count it once and emit its done event."""
    ks = stack_settings.cassandra_keyspace
    store = PipelineStore(cassandra_session, ks)
    with _held_in_the_llm_call(gateway, env, "written", "S06-P0018") as run:
        request = _logged_request(cassandra_session, ks, run.session)
        before = cassandra_session.execute(f"SELECT pages_generated FROM {ks}.section_counters "
                                           f"WHERE section = 6").one()
        page, new = generate(request, store, compose_from_canon)
        assert new
        calls = run.llm.count("/api/chat")
        _restart_generator(run)
        done = json.loads(run.sse.next("page.done", timeout=90)["data"])
        run.sse.close()

        assert done["payload"]["page_id"] == page.page_id
        assert done["payload"]["text"] == page.text
        assert done["payload"]["validation"]["generator"] == "canon-composer"
        assert run.llm.count("/api/chat") == calls  # the redelivery found the page: nothing written twice
        pages = cassandra_session.execute(f"SELECT page_id FROM {ks}.pages WHERE session_id = %s ALLOW FILTERING",
                                          (run.session,)).all()
        assert [p.page_id for p in pages] == [page.page_id]
        logged = cassandra_session.execute(f"SELECT event_id, type FROM {ks}.events_log WHERE session_id = %s",
                                           (run.session,)).all()
        assert {r.event_id for r in logged if r.type == "PageGenerated"} == {done["event_id"]}
        after = cassandra_session.execute(f"SELECT pages_generated FROM {ks}.section_counters "
                                          f"WHERE section = 6").one()
        assert after.pages_generated - ((before.pages_generated or 0) if before else 0) == 1
