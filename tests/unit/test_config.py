import pytest

from shared.config import ConfigError, HostPort, Settings


def test_defaults_match_the_local_stack():
    settings = Settings.from_env({})
    assert settings.cassandra_hosts == (HostPort("127.0.0.1", 9042),)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.amqp_host_port == HostPort("127.0.0.1", 5672)
    assert settings.cassandra_keyspace == "gibsey"
    assert settings.ollama_base_url == "http://localhost:11434"
    assert settings.ollama_model == "llama3:8b-instruct-q4_K_M"
    assert settings.http_port == 8000


def test_environment_overrides_are_parsed():
    settings = Settings.from_env({
        "CASSANDRA_HOSTS": "db1, db2:9043",
        "KAFKA_BROKERS": "k1:19092,k2",
        "AMQP_URI": "amqp://u:p@mq:5673/vh",
        "CASSANDRA_KEYSPACE": "gibsey_test",
        "CASSANDRA_REPLICATION_FACTOR": "3",
        "GIBSEY_HTTP_PORT": "8080",
        "GIBSEY_SESSION_TOPIC_PARTITIONS": "12",
        "OLLAMA_BASE_URL": "http://gpu:11434/",
        "GIBSEY_TOPIC_PREFIX": "staging.",
    })
    assert settings.topic_prefix == "staging." and settings.nameko_config["GIBSEY_TOPIC_PREFIX"] == "staging."
    assert settings.cassandra_hosts == (HostPort("db1", 9042), HostPort("db2", 9043))
    assert settings.kafka_bootstrap == "k1:19092,k2:9092"
    assert settings.amqp_host_port == HostPort("mq", 5673)
    assert settings.cassandra_replication_factor == 3
    assert settings.http_port == 8080
    assert settings.topics.session_partitions == 12
    assert settings.ollama_base_url == "http://gpu:11434"
    assert settings.nameko_config["AMQP_URI"] == "amqp://u:p@mq:5673/vh"


@pytest.mark.parametrize("env, named", [
    ({"CASSANDRA_HOSTS": "db:notaport"}, "CASSANDRA_HOSTS"),
    ({"KAFKA_BROKERS": " , "}, "KAFKA_BROKERS"),
    ({"KAFKA_BROKERS": "k:70000"}, "KAFKA_BROKERS"),
    ({"AMQP_URI": "http://mq"}, "AMQP_URI"),
    ({"OLLAMA_BASE_URL": "localhost:11434"}, "OLLAMA_BASE_URL"),
    ({"CASSANDRA_KEYSPACE": "Drop;Table"}, "CASSANDRA_KEYSPACE"),
    ({"GIBSEY_HTTP_PORT": "http"}, "GIBSEY_HTTP_PORT"),
    ({"CASSANDRA_REPLICATION_FACTOR": "0"}, "CASSANDRA_REPLICATION_FACTOR"),
    ({"GIBSEY_TOPIC_PREFIX": "dev/"}, "GIBSEY_TOPIC_PREFIX"),
])
def test_bad_values_name_their_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_nameko_config_round_trips_and_nested_sections_are_ignored():
    settings = Settings.from_env({"CASSANDRA_KEYSPACE": "gibsey_x", "KAFKA_BROKERS": "k:19092",
                                  "GIBSEY_TOPIC_PREFIX": "test."})
    config = {**settings.nameko_config, "LOGGING": {"version": 1}, "max_workers": 10, "GIBSEY_CONSUMER_GROUP_PREFIX": None}
    back = Settings.from_nameko_config(config)
    assert (back.cassandra_keyspace, back.kafka_bootstrap, back.topic_prefix) == ("gibsey_x", "k:19092", "test.")
    assert back.amqp_uri == settings.amqp_uri and back.ollama_model == settings.ollama_model


def test_rpc_names_carry_the_environments_prefix():
    from shared.rpc import rpc_service

    assert rpc_service("retrieval", {}) == "retrieval"
    assert rpc_service("retrieval", {"GIBSEY_RPC_PREFIX": "t1a2_"}) == "t1a2_retrieval"
    assert Settings.from_env({"GIBSEY_RPC_PREFIX": "t1a2_"}).nameko_config["GIBSEY_RPC_PREFIX"] == "t1a2_"
    with pytest.raises(ConfigError, match="GIBSEY_RPC_PREFIX"):
        rpc_service("retrieval", {"GIBSEY_RPC_PREFIX": "bad.prefix"})


def test_to_env_hands_every_setting_to_a_child_unchanged():
    settings = Settings.from_env({
        "CASSANDRA_HOSTS": "db1,db2:9043", "KAFKA_BROKERS": "k1:19092", "AMQP_URI": "amqp://u:p@mq:5673/vh",
        "CASSANDRA_KEYSPACE": "gibsey_x", "CASSANDRA_REPLICATION_FACTOR": "3", "OLLAMA_MODEL": "tiny",
        "GIBSEY_HTTP_PORT": "8080", "GIBSEY_PAGE_TOPIC_PARTITIONS": "3", "GIBSEY_SESSION_TOPIC_PARTITIONS": "4",
        "GIBSEY_TOPIC_REPLICATION_FACTOR": "2", "OLLAMA_BASE_URL": "http://gpu:11434",
        "GIBSEY_HEALTH_TIMEOUT_MS": "750",
        "GIBSEY_SSE_HEARTBEAT_S": "2", "GIBSEY_TOPIC_PREFIX": "test.", "GIBSEY_RPC_PREFIX": "t1_",
        "GIBSEY_CHAT_COST": "7", "GIBSEY_VAULT_REWARD": "0", "GIBSEY_NEW_USER_GRANT": "9",
    })
    env = settings.to_env()
    assert Settings.from_env(env) == settings
    assert env["KAFKA_BROKERS"] == "k1:19092" and env["CASSANDRA_HOSTS"] == "db1:9042,db2:9043"
    assert env["GIBSEY_HEALTH_TIMEOUT_MS"] == "750" and env["GIBSEY_VAULT_REWARD"] == "0"
    assert all(isinstance(value, str) for value in env.values())


def test_to_env_refuses_a_duration_it_cannot_write_whole():
    with pytest.raises(ConfigError, match="GIBSEY_SSE_HEARTBEAT_S"):
        Settings(sse_heartbeat_s=0.5).to_env()
