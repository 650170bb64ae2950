<?php
/*
 * WordPress configuration of gameday twin @TWIN@ (rendered by gameday.sandbox.members.wordpress; Debian's
 * /usr/share/wordpress/wp-config.php requires it through /etc/wordpress/config-@CONFIG_NAME@.php).
 * No secret in this file: the passwords are read from the environment (php-fpm's pool passes them on
 * from the supervisor, which reads them from the twin's 0600 secret files).
 */
define('DB_NAME', '@DB_NAME@');
define('DB_USER', '@DB_USER@');
define('DB_PASSWORD', (string) getenv('GAMEDAY_DB_PASSWORD'));
define('DB_HOST', '@DB_HOST@');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';

// The site's address: the load balancer's, or the address the request was made to when that is one
// of the twin's other site addresses (its region set's global front): WordPress's links and its
// canonical redirects then keep readers where they came in, not on the region's own load balancer.
$gameday_home = '@HOME@';
$gameday_asked = strtolower((string) ($_SERVER['HTTP_HOST'] ?? ''));
foreach (array_filter(explode(' ', '@ALSO_HOMES@')) as $gameday_url) {
    if ($gameday_asked !== '' && $gameday_asked === strtolower((string) preg_replace('#^https?://#', '', $gameday_url))) {
        $gameday_home = $gameday_url;
    }
}
define('WP_HOME', $gameday_home);
define('WP_SITEURL', $gameday_home);
unset($gameday_home, $gameday_asked, $gameday_url);
define('WP_CONTENT_DIR', '@CONTENT_DIR@');
define('WP_DEFAULT_THEME', '@THEME@');  // the theme a fresh install activates (gameday.sandbox.install)
define('WPMU_PLUGIN_DIR', '@MU_PLUGIN_DIR@');
define('DISALLOW_FILE_MODS', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
// no revision rows: an update would otherwise add one to wp_posts (ids interleaved with the catalogue's,
// deletions when they are pruned that a database drill would take for its incident)
define('WP_POST_REVISIONS', false);
define('WP_DEBUG', false);
// a sandbox calls nothing on the internet; the search nodes are the only other hosts it may reach
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('WP_ACCESSIBLE_HOSTS', '@SEARCH_HOSTS@');

// the must-use plugin's search (OpenSearch, ElasticPress-like); password: GAMEDAY_SEARCH_PASSWORD
define('GAMEDAY_SEARCH_URLS', '@SEARCH_URLS@');
define('GAMEDAY_SEARCH_USER', '@SEARCH_USER@');
define('GAMEDAY_SEARCH_CA', '@SEARCH_CA@');
define('GAMEDAY_CONTENT_INDEX', '@CONTENT_INDEX@');
define('GAMEDAY_SEARCH_TIMEOUT', 2);

// POST /api/articles waits this many seconds for the event relay to mark the publish's outbox row sent
// (201 "acknowledged"), else answers 202 "pending" (routes.php)
define('GAMEDAY_PUBLISH_ACK_WAIT', @PUBLISH_ACK_WAIT@);

// the CDN's edges (host:port, comma-separated; '' without a CDN): purge.php sends each a PURGE for the pages
// a publish, an update or a removal changed
define('GAMEDAY_CDN_PURGE', '@CDN_PURGE@');

// the object cache (WP_CONTENT_DIR/object-cache.php, installed when the twin has a cache member):
// Redis at this host:port ('' without one), password GAMEDAY_REDIS_PASSWORD; keys prefixed per twin
define('GAMEDAY_REDIS_ADDR', '@CACHE_ADDR@');
define('WP_CACHE_KEY_SALT', '@CONFIG_NAME@:');
