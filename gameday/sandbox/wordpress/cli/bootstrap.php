<?php
/*
 * Installs WordPress into the twin's database (tables wp_*, admin user `admin` with the password in
 * GAMEDAY_WP_ADMIN_PASSWORD), sets the permalinks (/%category%/%postname%/, monographs under
 * /monographs/), creates the outbox table and the categories, and inserts the catalogue read from stdin
 * (one JSON object per line, as gameday.site.catalog.generate yields them): guidance as posts,
 * monographs as the `monograph` post type. Safe to run again: an installed site is not reinstalled and
 * items already there (meta _gameday_id) are skipped. Prints one JSON summary line.
 */
define('WP_INSTALLING', true);
define('GAMEDAY_SEEDING', true);  // seeded content writes no content events (the index is filled from the database)
require __DIR__ . '/load.php';

function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password)
{
    // pluggable: the sandbox sends no mail
}

require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$summary = ['installed' => false, 'categories' => 0, 'inserted' => 0, 'existing' => 0];
if (!is_blog_installed()) {
    $password = (string) getenv('GAMEDAY_WP_ADMIN_PASSWORD');
    if ($password === '') {
        fwrite(STDERR, "GAMEDAY_WP_ADMIN_PASSWORD is not set\n");
        exit(2);
    }
    $result = wp_install('NHS SPS (gameday twin)', 'admin', 'admin@sandbox.invalid', false, '', wp_slash($password));
    if (is_wp_error($result)) {
        fwrite(STDERR, 'wp_install failed: ' . $result->get_error_message() . "\n");
        exit(1);
    }
    $summary['installed'] = true;
    foreach (get_posts(['post_type' => ['post', 'page'], 'post_status' => 'any', 'numberposts' => 10]) as $sample) {
        wp_delete_post($sample->ID, true);  // WordPress's "Hello world!" and "Sample Page": not the catalogue's
    }
}
update_option('blogdescription', 'Medicines advice for healthcare professionals');
update_option('default_comment_status', 'closed');
update_option('default_ping_status', 'closed');
global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%category%/%postname%/');
// Registered again now that the structure is set: on a first install WordPress registered them at init
// with no permalink structure, so without this the rules had no %category% tag and no category archives
// (every guidance post's permalink and /category/<slug>/ answered 404).
create_initial_taxonomies();
\Gameday\register_content_types();
flush_rewrite_rules(false);
\Gameday\ensure_outbox();

global $wpdb;
$known = array_flip($wpdb->get_col("SELECT meta_value FROM {$wpdb->postmeta} WHERE meta_key = '_gameday_id'"));
$categories = [];
$batch = 0;
wp_defer_term_counting(true);
$wpdb->query('START TRANSACTION');
while (($line = fgets(STDIN)) !== false) {
    $row = json_decode($line, true);
    if (!is_array($row)) {
        continue;
    }
    if (isset($known[(string) $row['id']])) {
        $summary['existing']++;
        continue;
    }
    $name = $row['category'];
    if (!isset($categories[$name])) {
        $term = term_exists($name, 'category') ?: wp_insert_term($name, 'category');
        if (is_wp_error($term)) {
            fwrite(STDERR, "category $name: " . $term->get_error_message() . "\n");
            exit(1);
        }
        $categories[$name] = (int) $term['term_id'];
    }
    $date = gmdate('Y-m-d H:i:s', 1735689600 + 3600 * (int) $row['id']);  // from 2025-01-01, an hour apart
    $id = wp_insert_post([
        'post_type' => $row['kind'] === 'monograph' ? \Gameday\MONOGRAPH : 'post',
        'post_status' => 'publish',
        'post_author' => 1,
        'post_title' => wp_slash($row['title']),
        'post_name' => $row['slug'],
        'post_excerpt' => wp_slash($row['summary']),
        'post_content' => wp_slash($row['body']),
        'post_category' => [$categories[$name]],
        'post_date' => $date,
        'post_date_gmt' => $date,
        'meta_input' => ['_gameday_id' => (int) $row['id'], '_gameday_version' => (int) $row['version']],
    ], true);
    if (is_wp_error($id)) {
        fwrite(STDERR, "item {$row['id']}: " . $id->get_error_message() . "\n");
        exit(1);
    }
    $summary['inserted']++;
    if (++$batch % 200 === 0) {
        $wpdb->query('COMMIT');
        $wpdb->query('START TRANSACTION');
    }
}
$wpdb->query('COMMIT');
wp_defer_term_counting(false);
$summary['categories'] = count($categories);
echo json_encode($summary), "\n";
