package gameday.relay;

import java.time.Instant;
import java.util.List;

/**
 * What the relay is doing, shared between the relay loop (writer) and the health endpoint (reader), rendered
 * as one JSON object:
 *
 * <pre>
 * {"member": "relay-1", "state": "idle", "ready": true, "leader": true, "lag": 0, "oldest_unsent_s": 0.0,
 *  "sent_total": 42, "failed_total": 0, "batches": 9, "in_flight": [], "last_batch_at": "...",
 *  "last_error": null, "topic": "content-events", "table": "wp_gameday_outbox"}
 * </pre>
 *
 * States: starting, idle (nothing unsent), sending (records produced, waiting for acks), marking (acknowledged,
 * the rows in {@code in_flight} not yet marked sent: a crash now re-sends them), standby (another relay holds the
 * lock), no-outbox (the table does not exist yet), db-unavailable, kafka-unavailable, stopping.
 * Ready: the last poll of the database worked and the last batch (if any) was acknowledged.
 */
final class Status {
    private final String member;
    private final String topic;
    private final String table;
    private String state = "starting";
    private boolean ready;
    private boolean leader;
    private long lag = -1;
    private double oldestSeconds;
    private long sentTotal;
    private long failedTotal;
    private long batches;
    private List<Long> inFlight = List.of();
    private Instant lastBatchAt;
    private String lastError;

    Status(Config cfg) {
        this.member = cfg.member;
        this.topic = cfg.topic;
        this.table = cfg.table;
    }

    synchronized void state(String state, boolean ready) {
        this.state = state;
        this.ready = ready;
    }

    synchronized void leader(boolean leader) {
        this.leader = leader;
    }

    synchronized void inFlight(List<Long> ids) {
        this.inFlight = List.copyOf(ids);
    }

    synchronized void lag(Outbox.Lag lag) {
        this.lag = lag.rows();
        this.oldestSeconds = lag.oldestSeconds();
    }

    synchronized void batch(int sent, int failed) {
        sentTotal += sent;
        failedTotal += failed;
        batches++;
        lastBatchAt = Instant.now();
    }

    synchronized void error(String why) {
        lastError = why;
    }

    synchronized boolean ready() {
        return ready;
    }

    synchronized String json() {
        StringBuilder ids = new StringBuilder();
        for (Long id : inFlight) {
            ids.append(ids.length() == 0 ? "" : ",").append(id);
        }
        return "{\"member\":" + str(member) + ",\"state\":" + str(state) + ",\"ready\":" + ready + ",\"leader\":" + leader
                + ",\"lag\":" + (lag < 0 ? "null" : Long.toString(lag))
                + ",\"oldest_unsent_s\":" + String.format(java.util.Locale.ROOT, "%.3f", oldestSeconds)
                + ",\"sent_total\":" + sentTotal + ",\"failed_total\":" + failedTotal + ",\"batches\":" + batches
                + ",\"in_flight\":[" + ids + "]"
                + ",\"last_batch_at\":" + (lastBatchAt == null ? "null" : str(lastBatchAt.toString()))
                + ",\"last_error\":" + (lastError == null ? "null" : str(lastError))
                + ",\"topic\":" + str(topic) + ",\"table\":" + str(table) + "}";
    }

    /** {@code s} as a JSON string. */
    static String str(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
