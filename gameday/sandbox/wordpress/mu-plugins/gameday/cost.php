<?php
/*
 * What a page cost the origin, as two response headers (read by the tests and the benchmark):
 *
 *   X-Gameday-DB-Queries: <n>     the database queries WordPress made for it ($wpdb->num_queries)
 *   X-Gameday-Object-Cache: redis | fallback | none
 *       redis: the object-cache drop-in served it from Redis; fallback: the drop-in could not reach
 *       Redis, so the request had a per-request in-memory cache only; none: no drop-in installed.
 *
 * The response is buffered from here on so that the headers can still be sent at shutdown, once the
 * page is made (WordPress flushes its buffers at shutdown priority 1; these are sent at 0).
 */
namespace Gameday;

function object_cache_state(): string
{
    global $wp_object_cache;
    if (!wp_using_ext_object_cache()) {
        return 'none';
    }
    return method_exists($wp_object_cache, 'state') ? $wp_object_cache->state() : 'other';
}

function send_cost_headers(): void
{
    global $wpdb;
    if (!headers_sent()) {
        header('X-Gameday-DB-Queries: ' . (int) $wpdb->num_queries);
        header('X-Gameday-Object-Cache: ' . object_cache_state());
    }
}

if (PHP_SAPI !== 'cli') {
    ob_start();
    add_action('shutdown', __NAMESPACE__ . '\\send_cost_headers', 0);
}
