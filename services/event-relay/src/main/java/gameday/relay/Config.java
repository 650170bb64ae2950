package gameday.relay;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The relay's settings, from environment variables, or from a properties file named by
 * {@code GAMEDAY_RELAY_CONFIG} that holds the same keys (the environment wins over the file).
 *
 * <pre>
 * GAMEDAY_DB_ADDR            host:port of MariaDB (required)
 * GAMEDAY_DB_NAME            database (required)
 * GAMEDAY_DB_USER            user (required)
 * GAMEDAY_DB_PASSWORD        its password: from the environment only (a supervisor fills it from a 0600 file), or
 * GAMEDAY_DB_PASSWORD_FILE   a file holding the password (or a GAMEDAY_DB_PASSWORD=... line); it must be 0600 or stricter
 * GAMEDAY_KAFKA_BOOTSTRAP    host:port[,host:port...] (required)
 * GAMEDAY_CONTENT_TOPIC      topic (default content-events)
 * GAMEDAY_RELAY_TABLE        the outbox table (default wp_gameday_outbox)
 * GAMEDAY_RELAY_BATCH        rows per batch (default 100)
 * GAMEDAY_RELAY_POLL_MS      pause after a short or failed batch (default 500)
 * GAMEDAY_RELAY_MARK_DELAY_MS  pause between Kafka's acknowledgement and marking the rows sent (default 0): widens
 *                            the at-least-once window on purpose, for drills and tests
 * GAMEDAY_RELAY_HTTP         address:port of /healthz and /readyz (default none)
 * GAMEDAY_MEMBER             this relay's name (default event-relay): client.id, log lines
 * </pre>
 *
 * The password never appears in a properties file, in argv, in {@link #toString()} or in a log line.
 */
final class Config {
    static final class Invalid extends Exception {
        private static final long serialVersionUID = 1L;

        Invalid(String message) {
            super(message);
        }
    }

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z0-9_]{1,64}");
    private static final Pattern HOST_PORT = Pattern.compile("[A-Za-z0-9.\\-\\[\\]:]+:[0-9]{1,5}");

    final String dbHost;
    final int dbPort;
    final String dbName;
    final String dbUser;
    final String dbPassword;
    final String bootstrap;
    final String topic;
    final String table;
    final int batch;
    final long pollMs;
    final long markDelayMs;
    final String httpHost;  // null: no health endpoint
    final int httpPort;
    final String member;

    private Config(Map<String, String> v, String password) throws Invalid {
        String[] db = hostPort(required(v, "GAMEDAY_DB_ADDR"), "GAMEDAY_DB_ADDR");
        dbHost = db[0];
        dbPort = Integer.parseInt(db[1]);
        dbName = identifier(required(v, "GAMEDAY_DB_NAME"), "GAMEDAY_DB_NAME");
        dbUser = required(v, "GAMEDAY_DB_USER");
        dbPassword = password;
        bootstrap = required(v, "GAMEDAY_KAFKA_BOOTSTRAP");
        for (String server : bootstrap.split(",")) {
            hostPort(server.trim(), "GAMEDAY_KAFKA_BOOTSTRAP");
        }
        topic = v.getOrDefault("GAMEDAY_CONTENT_TOPIC", "content-events");
        table = identifier(v.getOrDefault("GAMEDAY_RELAY_TABLE", "wp_gameday_outbox"), "GAMEDAY_RELAY_TABLE");
        batch = (int) number(v, "GAMEDAY_RELAY_BATCH", 100, 1, 10_000);
        pollMs = number(v, "GAMEDAY_RELAY_POLL_MS", 500, 10, 60_000);
        markDelayMs = number(v, "GAMEDAY_RELAY_MARK_DELAY_MS", 0, 0, 60_000);
        String http = v.getOrDefault("GAMEDAY_RELAY_HTTP", "");
        if (http.isEmpty()) {
            httpHost = null;
            httpPort = 0;
        } else {
            String[] hp = hostPort(http, "GAMEDAY_RELAY_HTTP");
            httpHost = hp[0];
            httpPort = Integer.parseInt(hp[1]);
        }
        member = v.getOrDefault("GAMEDAY_MEMBER", "event-relay");
    }

    /** The settings of this process: {@code env} over the file {@code GAMEDAY_RELAY_CONFIG} names, if any. */
    static Config load(Map<String, String> env) throws Invalid {
        Map<String, String> values = new HashMap<>();
        String file = env.get("GAMEDAY_RELAY_CONFIG");
        if (file != null && !file.isEmpty()) {
            Properties props = new Properties();
            try (Reader in = Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8)) {
                props.load(in);
            } catch (IOException err) {
                throw new Invalid("cannot read GAMEDAY_RELAY_CONFIG " + file + ": " + err.getMessage());
            }
            if (props.containsKey("GAMEDAY_DB_PASSWORD")) {
                throw new Invalid("GAMEDAY_RELAY_CONFIG " + file + " holds GAMEDAY_DB_PASSWORD: a password goes in the"
                        + " environment or in a 0600 file named by GAMEDAY_DB_PASSWORD_FILE, not in the settings");
            }
            for (String key : props.stringPropertyNames()) {
                values.put(key, props.getProperty(key).trim());
            }
        }
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().startsWith("GAMEDAY_")) {
                values.put(e.getKey(), e.getValue().trim());
            }
        }
        values.values().removeIf(String::isEmpty);
        return new Config(values, password(env, values.get("GAMEDAY_DB_PASSWORD_FILE")));
    }

    private static String password(Map<String, String> env, String file) throws Invalid {
        String inEnv = env.get("GAMEDAY_DB_PASSWORD");
        if (inEnv != null && !inEnv.isEmpty()) {
            return inEnv;
        }
        if (file == null) {
            throw new Invalid("no database password: set GAMEDAY_DB_PASSWORD in the environment"
                    + " or GAMEDAY_DB_PASSWORD_FILE to a 0600 file holding it");
        }
        Path path = Path.of(file);
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS);
            for (PosixFilePermission p : perms) {
                if (p.name().startsWith("GROUP") || p.name().startsWith("OTHERS")) {
                    throw new Invalid("GAMEDAY_DB_PASSWORD_FILE " + file + " is readable by others ("
                            + PosixFilePermissions.toString(perms) + "): chmod 600 it");
                }
            }
            String text = Files.readString(path, StandardCharsets.UTF_8).trim();
            if (text.startsWith("GAMEDAY_DB_PASSWORD=")) {  // the twin's secrets/db.env
                text = text.substring("GAMEDAY_DB_PASSWORD=".length()).split("\n", 2)[0].trim();
            }
            if (text.isEmpty()) {
                throw new Invalid("GAMEDAY_DB_PASSWORD_FILE " + file + " is empty");
            }
            return text;
        } catch (IOException err) {
            throw new Invalid("cannot read GAMEDAY_DB_PASSWORD_FILE " + file + ": " + err.getMessage());
        }
    }

    private static String required(Map<String, String> v, String key) throws Invalid {
        String value = v.get(key);
        if (value == null) {
            throw new Invalid(key + " is not set");
        }
        return value;
    }

    private static String identifier(String value, String key) throws Invalid {
        if (!IDENTIFIER.matcher(value).matches()) {
            throw new Invalid(key + " must be letters, digits and underscores, not '" + value + "'");
        }
        return value;
    }

    private static String[] hostPort(String value, String key) throws Invalid {
        if (!HOST_PORT.matcher(value).matches()) {
            throw new Invalid(key + " must be host:port, not '" + value + "'");
        }
        int colon = value.lastIndexOf(':');
        int port = Integer.parseInt(value.substring(colon + 1));
        if (port < 1 || port > 65535) {
            throw new Invalid(key + ": port " + port + " is out of range");
        }
        return new String[] {value.substring(0, colon), value.substring(colon + 1)};
    }

    private static long number(Map<String, String> v, String key, long fallback, long min, long max) throws Invalid {
        String value = v.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(value);
            if (n < min || n > max) {
                throw new Invalid(key + " must be between " + min + " and " + max + ", not " + n);
            }
            return n;
        } catch (NumberFormatException err) {
            throw new Invalid(key + " must be a whole number, not '" + value + "'");
        }
    }

    /** Every setting but the password. */
    @Override
    public String toString() {
        return "db " + dbUser + "@" + dbHost + ":" + dbPort + "/" + dbName + " table " + table + " -> kafka " + bootstrap
                + " topic " + topic + " (batch " + batch + ", poll " + pollMs + " ms"
                + (markDelayMs > 0 ? ", mark delay " + markDelayMs + " ms" : "") + ")"
                + (httpHost != null ? ", health on http://" + httpHost + ":" + httpPort : "");
    }
}
