<?php
/*
 * /healthz (the replica's processes are alive: 200) and /readyz (its database answers: 200, else 503 with
 * the reason). Answered as soon as WordPress has connected to its database and loads this plugin, before
 * themes, plugins and the query; when it cannot connect at all, the db-error.php drop-in answers instead.
 */
namespace Gameday;

function request_path(): string
{
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
    return is_string($path) ? (rtrim($path, '/') ?: '/') : '/';
}

function send_json(int $status, array $body): void
{
    if (!headers_sent()) {
        http_response_code($status);
        header('Content-Type: application/json');
        header('Cache-Control: no-store');
    }
    echo json_encode($body), "\n";
    exit;
}

function answer_health(string $path): void
{
    global $wpdb;
    if ($path === '/healthz') {
        send_json(200, ['alive' => true, 'member' => getenv('GAMEDAY_MEMBER') ?: null]);
    }
    if ($path === '/readyz') {
        $wpdb->suppress_errors(true);
        $answer = $wpdb->get_var('SELECT 1');
        if ((string) $answer === '1') {
            send_json(200, ['ready' => true, 'member' => getenv('GAMEDAY_MEMBER') ?: null]);
        }
        send_json(503, ['ready' => false, 'reason' => 'database query failed: ' . ($wpdb->last_error ?: 'no answer')]);
    }
}

if (PHP_SAPI !== 'cli') {
    answer_health(request_path());
}
