"""Change events for `pages` -> embedder -> quote vectors -> gibsey.index.update -> indexer -> shard ->
retrieval, with the real services on the live stack. The change events are written here in Debezium's
Cassandra format (the connector itself is exercised by the CDC tests); everything after Kafka is real."""

from __future__ import annotations

import uuid

import pytest

from tests.services.rag_support import change_event, wait_for, wait_until_handled

pytestmark = pytest.mark.integration


def test_insert_update_delete_flow_through_to_retrieval(rag, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    page_id = str(uuid.uuid4())
    phrase = "the velvet semaphore hums beneath the carousel"
    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                              f"VALUES (%s, 5, 4, %s, 'A branch')", (page_id, f"Jacklyn notes that {phrase}."))
    rag.send(change_event(ks, page_id))
    hits = wait_for(rag.retrieval, phrase, lambda r: any(h["page_id"] == page_id for h in r))
    top = next(h for h in hits if h["page_id"] == page_id)
    assert (top["section"], top["character"], top["loc"]) == (5, "jacklyn-variance", f"p{page_id}-1")
    assert phrase in top["quote"]

    other = "an origami lighthouse folds itself into the tide"
    cassandra_session.execute(f"UPDATE {ks}.pages SET text = %s WHERE page_id = %s", (f"Now {other}.", page_id))
    rag.send(change_event(ks, page_id, "u"))
    wait_for(rag.retrieval, other, lambda r: any(h["page_id"] == page_id and other in h["quote"] for h in r))
    assert not any(h["page_id"] == page_id and phrase in h["quote"]
                   for h in rag.retrieval.search(phrase, 10)["results"])

    cassandra_session.execute(f"DELETE FROM {ks}.pages WHERE page_id = %s", (page_id,))
    rag.send(change_event(ks, page_id, "d", columns=()))
    wait_for(rag.retrieval, other, lambda r: all(h["page_id"] != page_id for h in r))


def test_other_keyspaces_and_title_only_updates_are_skipped(rag, cassandra_session, stack_settings):
    for event in (change_event("someone_elses_keyspace", "S01-P0001"),
                  change_event(stack_settings.cassandra_keyspace, "S01-P0001", "u", columns=("title",))):
        wait_until_handled(stack_settings.kafka_bootstrap, f"{rag.group_prefix}embedder", rag.send(event))
    rows = cassandra_session.execute(f"SELECT count(*) FROM {stack_settings.cassandra_keyspace}.page_vectors "
                                     "WHERE page_id = 'S01-P0001'").one()[0]
    assert rows == 0  # nothing was embedded for either


def test_filters_and_bad_queries(rag, cassandra_session, stack_settings):
    ks = stack_settings.cassandra_keyspace
    page_id = str(uuid.uuid4())
    phrase = "a brass owl recites the timetable of vanished trains"
    cassandra_session.execute(f"INSERT INTO {ks}.pages (page_id, section, char_hex, text, title) "
                              f"VALUES (%s, 16, 15, %s, 'The Author aside')", (page_id, f"The Author says {phrase}."))
    rag.send(change_event(ks, page_id))
    wait_for(rag.retrieval, phrase, lambda r: any(h["page_id"] == page_id for h in r), character="the-author")
    assert all(h["page_id"] != page_id for h in rag.retrieval.search(phrase, 10, section=2)["results"])
    assert all(h["character"] == "london-fox"
               for h in rag.retrieval.search(phrase, 10, character="london-fox")["results"])
    with pytest.raises(Exception, match="RetrievalQueryError"):
        rag.retrieval.search("   ", 5)
    with pytest.raises(Exception, match="k: must be"):
        rag.retrieval.search("tower", 0)
