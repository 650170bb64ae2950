<?php
/*
 * Loads the twin's WordPress for a gameday CLI script (required first by each one). The twin is named by
 * GAMEDAY_WP_CONFIG (Debian's wp-config.php then requires /etc/wordpress/config-<that>.php) and the
 * passwords come from the environment, as in php-fpm: gameday.sandbox.wordpress.php runs these scripts.
 */
if (PHP_SAPI !== 'cli') {
    exit(1);
}
$gameday_config = (string) getenv('GAMEDAY_WP_CONFIG');
if (!preg_match('/^[a-zA-Z0-9-]+$/', $gameday_config)) {
    fwrite(STDERR, "GAMEDAY_WP_CONFIG must name the twin's WordPress config (letters, digits, dashes)\n");
    exit(2);
}
$_SERVER['WORDPRESS_CONFIG'] = $gameday_config;
$_SERVER['HTTP_HOST'] = (string) (getenv('GAMEDAY_WP_HOST') ?: 'localhost');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
require '/usr/share/wordpress/wp-load.php';
