<?php
/*
 * gameday's db-error.php drop-in (copied into the twin's WP_CONTENT_DIR): what a replica answers when
 * WordPress cannot reach its database. /healthz stays 200 (the processes are alive), /readyz is 503 with
 * the reason (the load balancer takes the replica out). Every other request answers as the Python site's
 * degraded mode does (gameday.site.app: 503, `X-Gameday-Degraded: db`, `Retry-After: 2`): the site API
 * (/api/..., /wp-json/...) with JSON {"error", "degraded": "db"}, pages with WordPress's own "Error
 * establishing a database connection" (WordPress itself says 500; 503 tells a client, a CDN and the load
 * generator alike that it is temporary).
 */
$gameday_path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
$gameday_path = is_string($gameday_path) ? (rtrim($gameday_path, '/') ?: '/') : '/';
$gameday_reason = 'database unreachable at ' . (defined('DB_HOST') ? DB_HOST : '?') . ': '
    . (mysqli_connect_error() ?: 'no connection');
if (!headers_sent()) {
    header('Cache-Control: no-store');
    header('X-Gameday-Degraded: db');
}
if ($gameday_path === '/healthz' || $gameday_path === '/readyz') {
    $gameday_ready = $gameday_path === '/healthz';
    if (!headers_sent()) {
        http_response_code($gameday_ready ? 200 : 503);
        header('Content-Type: application/json');
    }
    echo json_encode($gameday_ready
        ? ['alive' => true, 'database' => false, 'reason' => $gameday_reason]
        : ['ready' => false, 'reason' => $gameday_reason]), "\n";
    exit;
}
if (PHP_SAPI === 'cli') {
    fwrite(STDERR, "Error establishing a database connection: $gameday_reason\n");
    exit(1);
}
if (!headers_sent()) {
    http_response_code(503);
    header('Retry-After: 2');
}
if (preg_match('#^/(api|wp-json)(/|$)#', $gameday_path) || isset($_GET['rest_route'])) {
    if (!headers_sent()) {
        header('Content-Type: application/json');
    }
    echo json_encode(['error' => 'The content database is temporarily unavailable. Please try again in a moment.',
        'degraded' => 'db']), "\n";
    exit;
}
if (!headers_sent()) {
    header('Content-Type: text/html; charset=utf-8');
}
echo "<!DOCTYPE html>\n<html><head><title>Database Error</title></head><body>"
    . "<h1>Error establishing a database connection</h1></body></html>\n";
exit;
