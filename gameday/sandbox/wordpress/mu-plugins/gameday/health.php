<?php
/*
 * /healthz (the replica's processes are alive: 200) and /readyz (its database answers: 200, else 503 with
 * the reason). Answered as soon as WordPress has connected to its database and loads this plugin, before
 * themes, plugins and the query; when it cannot connect at all, the db-error.php drop-in answers instead.
 *
 * The twin's readiness fault (gameday.sandbox.web_faults, as the Python site's held_unready): while
 * $GAMEDAY_FAULTS_DIR/<member>.unready names the member's process (the replica's launcher, the php-fpm
 * master's parent) /readyz answers 503, so the load balancer takes the replica out; a restarted replica
 * (a new launcher) is ready again.
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

/** The pids this request's worker descends from: itself, its php-fpm master, the master's parent. */
function own_pids(): array
{
    $pids = [getmypid()];
    $parent = function_exists('posix_getppid') ? posix_getppid() : 0;
    if ($parent > 1) {
        $pids[] = $parent;
        $stat = @file_get_contents("/proc/$parent/stat");
        // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis
        if (is_string($stat) && preg_match('/\)\s+\S+\s+(\d+)/', $stat, $m)) {
            $pids[] = (int) $m[1];
        }
    }
    return $pids;
}

function held_unready(): bool
{
    $dir = (string) getenv('GAMEDAY_FAULTS_DIR');
    $member = (string) getenv('GAMEDAY_MEMBER');
    if ($dir === '' || $member === '') {
        return false;
    }
    $text = @file_get_contents("$dir/$member.unready");
    return is_string($text) && ctype_digit(trim($text)) && in_array((int) trim($text), own_pids(), true);
}

function answer_health(string $path): void
{
    global $wpdb;
    if ($path === '/healthz') {
        send_json(200, ['alive' => true, 'member' => getenv('GAMEDAY_MEMBER') ?: null]);
    }
    if ($path === '/readyz') {
        if (held_unready()) {
            send_json(503, ['ready' => false, 'reason' => 'this replica is wedged (a readiness fault holds it; replace it)']);
        }
        $wpdb->suppress_errors(true);
        $answer = $wpdb->get_var('SELECT 1');
        if ((string) $answer === '1') {
            send_json(200, ['ready' => true, 'member' => getenv('GAMEDAY_MEMBER') ?: null]);
        }
        send_json(503, ['ready' => false, 'reason' => 'database query failed: ' . ($wpdb->last_error ?: 'no answer')]);
    }
}

if (PHP_SAPI !== 'cli') {
    // a connection lost mid-request is tried again once, as the Python site's (WordPress: 5 times, a second
    // apart, each up to mysqlnd.net_read_timeout: a frozen database would hold the request for 15 s)
    $GLOBALS['wpdb']->reconnect_retries = 1;
    answer_health(request_path());
}
