import pytest

from shared import cli


def test_bad_environment_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BROKERS", "k:notaport")
    assert cli.main(["topics", "create"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gibsey: bad configuration: KAFKA_BROKERS")
    assert err.count("\n") == 1


def test_unreachable_kafka_is_a_clear_failure(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BROKERS", "127.0.0.1:1")
    assert cli.main(["topics", "create"]) == 1
    assert "Kafka at 127.0.0.1:1 is not reachable" in capsys.readouterr().err


def test_unreachable_cassandra_is_a_clear_failure(monkeypatch, capsys):
    monkeypatch.setenv("CASSANDRA_HOSTS", "127.0.0.1:1")
    assert cli.main(["schema", "apply"]) == 1
    assert "Cassandra at 127.0.0.1:1 is not reachable" in capsys.readouterr().err


def test_dry_run_lists_migrations_without_a_server(capsys):
    assert cli.main(["schema", "apply", "--dry-run"]) == 0
    assert "0001_qdpi_core" in capsys.readouterr().out


def test_unknown_command_is_usage_error():
    with pytest.raises(SystemExit) as info:
        cli.main(["teleport"])
    assert info.value.code == 2


def test_summaries_run_with_cassandra_away_is_audited_and_says_why(monkeypatch, capsys):
    import shared.storage.cassandra as cassandra
    import shared.summaries.audit as audit
    from shared.storage.cassandra import StorageUnavailable

    records: list[tuple] = []

    class RecordingAuditor:
        def __call__(self, run_id, outcome, started, detail):
            records.append((run_id, outcome, detail))

        def close(self):
            records.append("closed")

    def unreachable(settings):
        raise StorageUnavailable("Cassandra at 127.0.0.1:9042 is not reachable")

    monkeypatch.setattr(cassandra, "open_session", unreachable)
    monkeypatch.setattr(audit, "kafka_auditor", lambda settings: RecordingAuditor())
    assert cli.main(["summaries", "run", "--run-id", "night-1"]) == 1
    assert records[0][:2] == ("night-1", "failed") and "not reachable" in records[0][2] and records[1] == "closed"
    assert "gibsey summaries run: Cassandra at 127.0.0.1:9042 is not reachable" in capsys.readouterr().err
