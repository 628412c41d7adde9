// The localstack CDC agent: Debezium's standalone Cassandra 5 agent, started through this class
// so that one gap in it is closed. localstack/stack/cdc.py compiles this file with javac against
// the agent's Maven classpath (cached by source hash) and runs dev.gibsey.localstack.CdcAgent.
//
// Why not Debezium's own main class (io.debezium.connector.cassandra.CassandraConnectorTask)?
// Its schema listener learns tables from the driver's schema events. When a keyspace and its
// tables are created within the driver's debounce window (what `gibsey schema apply` and every
// test session do), the driver reports only "keyspace created" (no table events), and Debezium's
// listener adds the keyspace but none of its tables. The commit-log reader then cannot decode
// mutations of those tables (Cassandra's CommitLogReader skips unknown tables silently), so no
// events are emitted for them until the agent is restarted. Below, a created keyspace also
// registers each of its tables, exactly as if each had been reported on its own.
//
// Everything else is Debezium's: the same type provider, schema loader, commit-log processor
// (CommitLogIdxProcessor with the Cassandra 5 segment reader) and standalone Kafka emitter.
package dev.gibsey.localstack;

import java.io.File;

import org.apache.cassandra.config.DatabaseDescriptor;

import com.datastax.oss.driver.api.core.metadata.schema.KeyspaceMetadata;
import com.datastax.oss.driver.api.core.metadata.schema.TableMetadata;

import io.debezium.connector.cassandra.AbstractProcessor;
import io.debezium.connector.cassandra.Cassandra5CommitLogSegmentReader;
import io.debezium.connector.cassandra.Cassandra5SchemaChangeListener;
import io.debezium.connector.cassandra.Cassandra5TypeProvider;
import io.debezium.connector.cassandra.CassandraConnectorConfig;
import io.debezium.connector.cassandra.CassandraConnectorTask;
import io.debezium.connector.cassandra.CassandraConnectorTaskTemplate;
import io.debezium.connector.cassandra.CommitLogIdxProcessor;
import io.debezium.connector.cassandra.ComponentFactoryStandalone;
import io.debezium.connector.cassandra.SchemaHolder;
import io.debezium.connector.cassandra.metrics.CassandraStreamingMetrics;
import io.debezium.connector.common.CdcSourceTaskContext;

public final class CdcAgent {

    private CdcAgent() {
    }

    public static void main(String[] args) {
        try {
            CassandraConnectorTaskTemplate.main(args, CdcAgent::template);
        }
        catch (Throwable failure) {
            // The template only returns by throwing (its processors stopped or startup failed).
            // Exit, so a dead agent is not left looking alive behind non-daemon threads.
            failure.printStackTrace();
        }
        System.exit(1);
    }

    private static CassandraConnectorTaskTemplate template(CassandraConnectorConfig config) {
        return new CassandraConnectorTaskTemplate(
                config,
                new Cassandra5TypeProvider(),
                new CassandraConnectorTask.Cassandra5SchemaLoader(),
                cfg -> new KeyspaceAwareListener(cfg),
                context -> {
                    CassandraStreamingMetrics metrics = new CassandraStreamingMetrics((CdcSourceTaskContext) context);
                    File cdcRaw = new File(DatabaseDescriptor.getCDCLogLocation());
                    Cassandra5CommitLogSegmentReader reader = new Cassandra5CommitLogSegmentReader(context, metrics);
                    return new AbstractProcessor[]{ new CommitLogIdxProcessor(context, metrics, reader, cdcRaw) };
                },
                new ComponentFactoryStandalone());
    }

    /** Debezium's Cassandra 5 listener, plus: a new keyspace's tables are registered too. */
    static final class KeyspaceAwareListener extends Cassandra5SchemaChangeListener {

        KeyspaceAwareListener(CassandraConnectorConfig config) {
            super(config.getLogicalName(), config.getSourceInfoStructMaker(), new SchemaHolder());
        }

        @Override
        public void onKeyspaceCreated(KeyspaceMetadata keyspace) {
            super.onKeyspaceCreated(keyspace);
            for (TableMetadata table : keyspace.getTables().values()) {
                onTableCreated(table);
            }
        }
    }
}
