package gameday.relay;

import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** One line to stdout per call, prefixed with the UTC time and the member's name (the supervisor keeps stdout). */
final class Log {
    private static volatile String member = "event-relay";

    private Log() {
    }

    static void member(String name) {
        member = name;
    }

    static synchronized void line(String message) {
        System.out.println(Instant.now().truncatedTo(ChronoUnit.MILLIS) + " " + member + " " + message);
        System.out.flush();
    }
}
