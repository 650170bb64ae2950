package gameday.relay;

import java.io.IOException;

/**
 * {@code java -jar event-relay.jar}: relay the outbox to Kafka until SIGTERM or SIGINT (settings: {@link Config}).
 *
 * <p>On SIGTERM the current batch finishes (what Kafka acknowledged is marked sent), the producer and the
 * database connection are closed, and the process exits 0. Exit 2: the settings are wrong (the message says
 * which); exit 1: the health endpoint could not listen.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        Config cfg;
        try {
            cfg = Config.load(System.getenv());
        } catch (Config.Invalid err) {
            System.err.println("event-relay: " + err.getMessage());
            System.exit(2);
            return;
        }
        Log.member(cfg.member);
        Status status = new Status(cfg);
        Relay relay = new Relay(cfg, status);
        Health health = null;
        if (cfg.httpHost != null) {
            try {
                health = new Health(cfg.httpHost, cfg.httpPort, status);
            } catch (IOException err) {
                System.err.println("event-relay: cannot serve /healthz on " + cfg.httpHost + ":" + cfg.httpPort + ": " + err);
                System.exit(1);
                return;
            }
        }
        // Our own handler, not the JVM's (which would run the shutdown hooks and exit 143 mid-batch); sun.misc.Signal
        // is jdk.unsupported API (javac warns), the one way to exit 0 on SIGTERM; Kafka's own tools use it too
        sun.misc.SignalHandler onStop = signal -> {
            Log.line("SIG" + signal.getName() + ": finishing the current batch");
            relay.stop();
        };
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), onStop);
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), onStop);
        relay.run();
        if (health != null) {
            health.close();
        }
        Log.line("stopped");
        System.exit(0);
    }
}
