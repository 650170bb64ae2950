package gameday.relay;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;

/**
 * The outbox table WordPress's must-use plugin writes in each publishing transaction
 * (gameday/sandbox/wordpress/mu-plugins/gameday/outbox.php): read the unsent rows in id order, mark rows sent,
 * count what is left. One JDBC connection (autocommit); after any SQLException the caller closes it and opens
 * a new one.
 *
 * <p>Only one relay relays at a time: {@link #lead()} takes the database's named lock
 * {@code gameday-outbox-relay:<db>.<table>} on this connection (GET_LOCK). It is released when the connection
 * ends, a relay killed with SIGKILL included, so a standby replica takes over on its next poll.
 */
final class Outbox implements AutoCloseable {
    /** One unsent row. */
    record Row(long id, String eventId, String eventType, long postId, int version, String payload) {
    }

    /** What is still unsent: how many rows, and how old the oldest is (0 when none). */
    record Lag(long rows, double oldestSeconds) {
    }

    /** The table does not exist yet: the plugin creates it at the first publish. */
    static boolean missingTable(SQLException err) {
        return err.getErrorCode() == 1146 || "42S02".equals(err.getSQLState());
    }

    private final Config cfg;
    private final Connection conn;
    private boolean leader;

    Outbox(Config cfg) throws SQLException {
        this.cfg = cfg;
        Properties props = new Properties();
        props.setProperty("user", cfg.dbUser);
        props.setProperty("password", cfg.dbPassword);
        props.setProperty("connectTimeout", "3000");
        props.setProperty("socketTimeout", "15000");
        props.setProperty("tcpKeepAlive", "true");
        String url = "jdbc:mariadb://" + cfg.dbHost + ":" + cfg.dbPort + "/" + cfg.dbName;
        conn = DriverManager.getConnection(url, props);
        conn.setAutoCommit(true);
    }

    private String lockName() {
        return "gameday-outbox-relay:" + cfg.dbName + "." + cfg.table;
    }

    /** True when this connection holds the relay lock (taken now if it is free). */
    boolean lead() throws SQLException {
        if (leader) {
            return true;
        }
        try (PreparedStatement st = conn.prepareStatement("SELECT GET_LOCK(?, 0)")) {
            st.setString(1, lockName());
            try (ResultSet rs = st.executeQuery()) {
                leader = rs.next() && rs.getInt(1) == 1;
            }
        }
        return leader;
    }

    /** Up to {@code limit} unsent rows, oldest (lowest id) first. */
    List<Row> unsent(int limit) throws SQLException {
        String sql = "SELECT id, event_id, event_type, post_id, version, payload FROM `" + cfg.table
                + "` WHERE sent_at IS NULL ORDER BY id LIMIT ?";
        List<Row> rows = new ArrayList<>();
        try (PreparedStatement st = conn.prepareStatement(sql)) {
            st.setInt(1, limit);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    rows.add(new Row(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getInt(5),
                            rs.getString(6)));
                }
            }
        }
        return rows;
    }

    /** Set sent_at on the rows {@code ids} (acknowledged by Kafka); returns how many changed. */
    int markSent(List<Long> ids) throws SQLException {
        if (ids.isEmpty()) {
            return 0;
        }
        String marks = String.join(",", Collections.nCopies(ids.size(), "?"));
        String sql = "UPDATE `" + cfg.table + "` SET sent_at = NOW(6) WHERE sent_at IS NULL AND id IN (" + marks + ")";
        try (PreparedStatement st = conn.prepareStatement(sql)) {
            for (int i = 0; i < ids.size(); i++) {
                st.setLong(i + 1, ids.get(i));
            }
            return st.executeUpdate();
        }
    }

    /** The rows still unsent and the age of the oldest. */
    Lag lag() throws SQLException {
        String sql = "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0) FROM `"
                + cfg.table + "` WHERE sent_at IS NULL";
        try (PreparedStatement st = conn.prepareStatement(sql); ResultSet rs = st.executeQuery()) {
            rs.next();
            return new Lag(rs.getLong(1), Math.max(0, rs.getLong(2)) / 1e6);
        }
    }

    @Override
    public void close() {
        leader = false;
        try {
            conn.close();
        } catch (SQLException err) {
            // the connection is being thrown away after a failure: nothing more to do with it
            Log.line("closing the database connection failed: " + err.getMessage());
        }
    }
}
