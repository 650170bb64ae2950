package gameday.relay;

import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The relay loop: {@link #run()} until {@link #stop()}.
 *
 * <p>Each batch: read up to {@code batch} unsent rows in id order; produce each to the topic (key: the post id,
 * so every version of a post lands on one partition in order; value: the row's payload as the publishing
 * transaction wrote it, which holds the event_id; headers event_id, event_type, outbox_id); wait for every
 * acknowledgement (acks=all, idempotent producer: the producer's own retries never duplicate a record); mark
 * the acknowledged rows sent. A row Kafka did not acknowledge stays unsent and is sent again by a later batch.
 *
 * <p>At-least-once, not exactly-once, across a crash: a relay that dies after Kafka acknowledged a batch and
 * before the UPDATE that marks it committed sends those rows again when it (or a standby) starts. The records
 * then appear twice with the same event_id; consumers dedupe by event_id (or by post id + version). At most one
 * batch is in that window; {@code in_flight} on /healthz names its rows while it is open. Likewise a batch whose
 * acknowledgement never arrived (delivery.timeout.ms) stays unsent and is sent again by a new producer, although
 * Kafka may have written some of it.
 */
final class Relay {
    private final Config cfg;
    private final Status status;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private static final long MAX_BACKOFF_MS = 5000;
    private final Object sleeper = new Object();
    private Outbox outbox;
    private KafkaProducer<String, byte[]> producer;
    private long backoffMs;
    private boolean toldNoTable;

    Relay(Config cfg, Status status) {
        this.cfg = cfg;
        this.status = status;
        this.backoffMs = cfg.pollMs;
    }

    /** Ask the loop to finish its current batch (marking what was acknowledged) and return. */
    void stop() {
        running.set(false);
        synchronized (sleeper) {
            sleeper.notifyAll();
        }
    }

    private Properties producerConfig() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cfg.bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "gameday-" + cfg.member);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");  // at most 5 keeps idempotent order
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "4000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "10000");  // a record not acked by then stays unsent
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");  // send() waiting for metadata while Kafka is away
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    /** What one step found: a full batch (go again at once), nothing more to do now, or a failure (back off). */
    private enum Outcome { MORE, WAIT, FAILED }

    void run() {
        Log.line("relaying " + cfg);
        try {
            while (running.get()) {
                Outcome outcome;
                try {
                    outcome = step();
                } catch (SQLException err) {
                    dropDatabase(err);
                    outcome = Outcome.FAILED;
                }
                if (outcome == Outcome.FAILED) {
                    pause(backoffMs);
                    backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
                } else {
                    backoffMs = cfg.pollMs;
                    if (outcome == Outcome.WAIT) {
                        pause(cfg.pollMs);
                    }
                }
            }
        } finally {
            status.state("stopping", false);
            if (producer != null) {
                producer.close(Duration.ofSeconds(2));
            }
            if (outbox != null) {
                outbox.close();
            }
        }
    }

    private void dropDatabase(SQLException err) {
        if (outbox != null) {
            outbox.close();
            outbox = null;
        }
        status.leader(false);
        status.state("db-unavailable", false);
        String why = "database: " + err.getMessage();
        status.error(why);
        Log.line("database unavailable (retrying in " + backoffMs + " ms): " + err.getMessage());
    }

    private void pause(long ms) {
        synchronized (sleeper) {
            if (running.get()) {
                try {
                    sleeper.wait(ms);
                } catch (InterruptedException err) {
                    Thread.currentThread().interrupt();
                    running.set(false);
                }
            }
        }
    }

    /** One batch (or a look at the lock or the table). */
    private Outcome step() throws SQLException {
        if (outbox == null) {
            outbox = new Outbox(cfg);
        }
        if (!outbox.lead()) {
            status.leader(false);
            status.state("standby", true);
            return Outcome.WAIT;
        }
        status.leader(true);
        List<Outbox.Row> rows;
        try {
            rows = outbox.unsent(cfg.batch);
        } catch (SQLException err) {
            if (!Outbox.missingTable(err)) {
                throw err;
            }
            if (!toldNoTable) {
                Log.line("no outbox table " + cfg.table + " yet (WordPress creates it at the first publish): waiting");
                toldNoTable = true;
            }
            status.lag(new Outbox.Lag(0, 0));
            status.state("no-outbox", true);
            return Outcome.WAIT;
        }
        if (rows.isEmpty()) {
            status.lag(outbox.lag());
            status.state("idle", true);
            return Outcome.WAIT;
        }
        long started = System.nanoTime();
        status.state("sending", status.ready());
        List<Long> acked = send(rows);
        int failed = rows.size() - acked.size();
        if (!acked.isEmpty()) {
            status.inFlight(acked);
            status.state("marking", failed == 0);
            if (cfg.markDelayMs > 0) {
                sleepUninterrupted(cfg.markDelayMs);  // a drill's slow database: the at-least-once window held open
            }
        }
        int marked = outbox.markSent(acked);  // an SQLException here: the rows stay unsent and go out again
        status.inFlight(List.of());
        Outbox.Lag lag = outbox.lag();
        status.lag(lag);
        status.batch(acked.size(), failed);
        status.state(failed == 0 ? "idle" : "kafka-unavailable", failed == 0);
        Log.line(String.format(java.util.Locale.ROOT, "batch: sent=%d failed=%d marked=%d ids=%d..%d lag=%d oldest_unsent_s=%.3f in %d ms",
                acked.size(), failed, marked, rows.get(0).id(), rows.get(rows.size() - 1).id(), lag.rows(),
                lag.oldestSeconds(), (System.nanoTime() - started) / 1_000_000));
        if (failed > 0) {
            return Outcome.FAILED;
        }
        return rows.size() == cfg.batch ? Outcome.MORE : Outcome.WAIT;
    }

    private static void sleepUninterrupted(long ms) {
        long until = System.nanoTime() + ms * 1_000_000;
        for (long left = ms; left > 0; left = (until - System.nanoTime()) / 1_000_000) {
            try {
                Thread.sleep(left);
            } catch (InterruptedException err) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Produce {@code rows} and wait for each acknowledgement; the ids Kafka acknowledged, in id order. */
    private List<Long> send(List<Outbox.Row> rows) {
        if (producer == null) {
            producer = new KafkaProducer<>(producerConfig());
        }
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        String refused = null;
        for (Outbox.Row row : rows) {
            ProducerRecord<String, byte[]> record = new ProducerRecord<>(cfg.topic, Long.toString(row.postId()),
                    row.payload().getBytes(StandardCharsets.UTF_8));
            record.headers().add("event_id", row.eventId().getBytes(StandardCharsets.UTF_8));
            record.headers().add("event_type", row.eventType().getBytes(StandardCharsets.UTF_8));
            record.headers().add("outbox_id", Long.toString(row.id()).getBytes(StandardCharsets.UTF_8));
            try {
                futures.add(producer.send(record));
            } catch (KafkaException err) {  // e.g. no metadata within max.block.ms: the rest of the batch waits too
                refused = err.getMessage();
                break;
            }
        }
        producer.flush();  // returns when every record sent is acknowledged or failed (delivery.timeout.ms)
        List<Long> acked = new ArrayList<>();
        String failure = refused;
        for (int i = 0; i < futures.size(); i++) {
            try {
                futures.get(i).get();
                acked.add(rows.get(i).id());
            } catch (ExecutionException err) {
                failure = err.getCause() == null ? err.getMessage() : err.getCause().toString();
            } catch (InterruptedException err) {
                Thread.currentThread().interrupt();
                failure = "interrupted";
                break;
            }
        }
        if (failure != null) {
            status.error("kafka: " + failure);
            Log.line("kafka did not acknowledge " + (rows.size() - acked.size()) + " of " + rows.size()
                    + " records (they stay unsent; a new producer is made): " + failure);
            producer.close(Duration.ofSeconds(1));
            producer = null;
        }
        return acked;
    }
}
