<?php
/*
 * Purge on publish: the CDN's cached pages a change made stale are purged once the change is done, so
 * readers get the new page at once instead of after the CDN's TTL and grace (up to 70 s; as the Varnish
 * HTTP Purge plugin does for a WordPress site behind Varnish).
 *
 * Which pages: when a guidance post or a monograph is published, updated, or leaves public view (to any
 * other status, the trash included) or is deleted while published: its contract path (/guidance/<slug>,
 * /medicines/<slug>: routes.php) with and without the trailing slash, its WordPress permalink, the home
 * page (it lists the latest 20), each of its categories' pages (/category/<slug>) and the monographs'
 * archive; an update purges the pages of the post as it was before too (its old slug, the categories it
 * was taken out of). Where: every edge named in
 * GAMEDAY_CDN_PURGE (host:port, comma-separated, wp-config.php; '' sends nothing), one `PURGE <path>`
 * request each (gameday.sandbox.members.cdn's VCL bans every copy of that path, whatever host it was
 * asked by). When: at the end of the request (`shutdown`), after the change and its outbox event were
 * committed (outbox.php), so a reader who misses right after the purge gets the new page.
 *
 * A purge never fails the change: an edge that does not answer within PURGE_TIMEOUT (a connect, or an
 * answer) is logged (PHP's error log, the replica's) and skipped, and the purges of one request stop
 * after PURGE_BUDGET seconds in all; the pages left refresh after the TTL as before. The change's
 * request waits for them (php-fpm runs `shutdown` before it ends the request): so the editor who saved
 * sees the new page at once. While seeding (GAMEDAY_SEEDING) nothing is purged (nothing was cached).
 */
namespace Gameday;

const PURGE_TIMEOUT = 0.5;  // seconds per request to an edge, connect and answer each
const PURGE_BUDGET = 2.0;   // seconds for all of one request's purges

final class Purge
{
    /** @var array<string, true> the paths to purge at the end of this request */
    public static array $paths = [];
}

function purge_edges(): array
{
    $raw = defined('GAMEDAY_CDN_PURGE') ? (string) GAMEDAY_CDN_PURGE : '';
    return array_values(array_filter(array_map('trim', explode(',', $raw))));
}

/** The paths a change of $post makes stale (see the header). */
function stale_paths(\WP_Post $post): array
{
    $slug = preg_replace('/__trashed(-\d+)?$/', '', (string) $post->post_name);
    $paths = ['/'];
    if ($slug !== '') {
        $path = '/' . KIND_PATHS[kind_of($post->post_type)] . '/' . $slug;
        $paths[] = $path;
        $paths[] = $path . '/';
    }
    $link = wp_parse_url((string) get_permalink($post), PHP_URL_PATH);
    if (is_string($link) && $link !== '' && !str_contains($link, '__trashed')) {
        $paths[] = $link;
    }
    foreach (wp_get_post_categories($post->ID, ['fields' => 'slugs']) as $category) {
        $paths[] = '/category/' . $category;
        $paths[] = '/category/' . $category . '/';
    }
    if ($post->post_type === MONOGRAPH) {
        $archive = wp_parse_url((string) get_post_type_archive_link(MONOGRAPH), PHP_URL_PATH);
        if (is_string($archive) && $archive !== '') {
            $paths[] = $archive;
        }
    }
    return $paths;
}

function note_stale(\WP_Post $post): void
{
    if (!in_array($post->post_type, CONTENT_TYPES, true) || purge_edges() === [] || seeding()) {
        return;
    }
    foreach (stale_paths($post) as $path) {
        Purge::$paths[$path] = true;
    }
}

/** Send one PURGE per path to each edge, within PURGE_BUDGET; [edge => purged count]. */
function send_purges(): array
{
    $done = [];
    if (Purge::$paths === []) {
        return $done;
    }
    $until = microtime(true) + PURGE_BUDGET;
    foreach (purge_edges() as $edge) {
        [$host, $port] = array_pad(explode(':', $edge, 2), 2, '80');
        $done[$edge] = 0;
        foreach (array_keys(Purge::$paths) as $path) {
            $left = $until - microtime(true);
            if ($left <= 0.05) {
                error_log("gameday purge: out of time (PURGE_BUDGET); edge $edge's pages left refresh after their TTL");
                break 2;
            }
            $errno = 0;
            $errstr = '';
            $conn = @fsockopen($host, (int) $port, $errno, $errstr, min(PURGE_TIMEOUT, $left));
            if ($conn === false) {
                error_log("gameday purge: edge $edge did not answer ($errstr); its pages refresh after their TTL");
                break;
            }
            stream_set_timeout($conn, 0, (int) (min(PURGE_TIMEOUT, $left) * 1e6));
            fwrite($conn, "PURGE $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
            $status = (string) fgets($conn, 256);
            $timed_out = (bool) (stream_get_meta_data($conn)['timed_out'] ?? false);
            fclose($conn);
            if (preg_match('#^HTTP/1\.[01] 200 #', $status)) {
                $done[$edge]++;
            } elseif ($timed_out) {
                error_log("gameday purge: edge $edge accepted but did not answer PURGE $path; its pages refresh after their TTL");
                break;
            } else {
                error_log('gameday purge: edge ' . $edge . ' answered ' . trim($status) . " to PURGE $path");
            }
        }
    }
    Purge::$paths = [];
    return $done;
}

add_action('transition_post_status', static function (string $new, string $old, \WP_Post $post): void {
    if ($new === 'publish' || $old === 'publish') {
        note_stale($post);
    }
}, 10, 3);
add_action('pre_post_update', static function (int $id): void {
    $before = get_post($id);  // as it is before the update: its old slug's and old categories' pages
    if ($before instanceof \WP_Post && $before->post_status === 'publish') {
        note_stale($before);
    }
}, 10, 1);
add_action('before_delete_post', static function (int $id, \WP_Post $post): void {
    if ($post->post_status === 'publish') {
        note_stale($post);
    }
}, 10, 2);
add_action('shutdown', static function (): void {
    send_purges();
}, 20);
