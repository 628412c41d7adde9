"""At-least-once for real: a page_generator killed in the middle of writing a page is redelivered the
request when it comes back, and the page exists exactly once.

Its own module, so no other consumer group's functions run meanwhile (they would write the page first).
The LLM is the Ollama TEST DOUBLE, told to hang on the first call: that is where the handler gets killed.
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from tests.doubles.ollama import OllamaDouble, dspy_reply
from tests.integration.flow_support import function, post_symbol, stream

pytestmark = pytest.mark.integration


def test_a_page_generator_killed_mid_handler_is_redelivered_and_writes_once(gateway, env, cassandra_session,
                                                                           stack_settings):
    with OllamaDouble(reply=dspy_reply()) as llm:
        llm.delay_s = 120.0
        own = {**env, "GIBSEY_CONSUMER_GROUP_PREFIX": f"kill-{uuid.uuid4().hex[:8]}-", "OLLAMA_BASE_URL": llm.url}
        enricher = function("enricher", own)
        generator = function("page_generator", own)
        try:
            session = f"killed-{uuid.uuid4().hex[:8]}"
            sse = stream(gateway, session)
            post_symbol(gateway, session, 0x50, "S06-P0017")
            deadline = time.monotonic() + 30
            while llm.count("/api/chat") == 0:  # the handler is now inside the LLM call
                assert time.monotonic() < deadline, "page_generator never called the LLM"
                time.sleep(0.1)
            generator.stop(signal.SIGKILL)
            llm.delay_s = 0.0
            generator = function("page_generator", own)
            done = json.loads(sse.next("page.done", timeout=90)["data"])["payload"]
            assert done["validation"]["generator"] == f"llm:{stack_settings.ollama_model}"
            sse.close()

            ks = stack_settings.cassandra_keyspace
            pages = cassandra_session.execute(f"SELECT page_id FROM {ks}.pages WHERE session_id = %s ALLOW FILTERING",
                                              (session,)).all()
            assert [p.page_id for p in pages] == [done["page_id"]]
            logged = cassandra_session.execute(f"SELECT event_id, type FROM {ks}.events_log WHERE session_id = %s",
                                               (session,)).all()
            assert len({r.event_id for r in logged if r.type == "PageGenerated"}) == 1
        finally:
            generator.stop()
            enricher.stop()
