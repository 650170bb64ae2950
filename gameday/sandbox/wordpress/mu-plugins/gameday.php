<?php
/*
 * Plugin Name: gameday
 * Description: The twin's own code inside WordPress: /healthz and /readyz, the monograph post type, a
 *   content-event outbox written in the publishing transaction, the CDN's stale pages purged after a change
 *   (purge.php), OpenSearch search with a MySQL fallback,
 *   a JSON API for the front end (/wp-json/gameday/v1/...), what a page cost (cost.php: headers), and the
 *   Python sample site's URLs and API (routes.php: /guidance/<slug>, /medicines/<slug>, /api/...).
 *
 * A must-use plugin: WordPress loads it on every request, before any other plugin. Each concern is one
 * file under gameday/, loaded in this order (health first: it answers its two paths without loading more).
 */
foreach (['health', 'cost', 'content-types', 'outbox', 'purge', 'search', 'api', 'routes'] as $gameday_part) {
    require_once __DIR__ . "/gameday/$gameday_part.php";
}
unset($gameday_part);
