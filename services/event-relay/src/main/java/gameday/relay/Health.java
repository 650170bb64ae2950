package gameday.relay;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * {@code GET /healthz}: 200 while the process runs, with {@link Status#json()} (the lag, what was sent);
 * {@code GET /readyz}: the same JSON, 200 when {@link Status#ready()}, else 503. Anything else: 404.
 */
final class Health implements AutoCloseable {
    private final HttpServer server;

    Health(String host, int port, Status status) throws IOException {
        server = HttpServer.create(new InetSocketAddress(host, port), 16);
        server.createContext("/healthz", exchange -> answer(exchange, 200, status.json()));
        server.createContext("/readyz", exchange -> answer(exchange, status.ready() ? 200 : 503, status.json()));
        server.createContext("/", exchange -> answer(exchange, 404, "{\"error\":\"not found\"}"));
        server.start();
    }

    private static void answer(HttpExchange exchange, int code, String body) throws IOException {
        byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
