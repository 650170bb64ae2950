<?php
/*
 * Installs WordPress into the twin's database (tables wp_*, admin user `admin` with the password in
 * GAMEDAY_WP_ADMIN_PASSWORD), sets the permalinks (/%category%/%postname%/, monographs under
 * /monographs/), creates the outbox table and the categories, and inserts the catalogue read from stdin
 * (one JSON object per line, as gameday.site.catalog.generate yields them): guidance as posts,
 * monographs as the `monograph` post type, each with its catalogue id as its post id (import_id; as the
 * Python site's article ids, so /api/articles/<id>, the load generator's updates and a search index seeded
 * from the catalogue name the same items on both web tiers). WordPress silently gives a post the next free
 * id when its import_id is taken (a post made before the seed): the job then fails, naming the catalogue
 * ids and the posts that hold them, rather than seed items under other ids. Safe to run again: an
 * installed site is not reinstalled and items already there (meta _gameday_id) are skipped. Prints one
 * JSON summary line, with the database the twin's configuration names (host, name, user: no password) for
 * gameday.sandbox.wordpress.seed, which makes the content views there next.
 *
 * The `publisher` user (role editor) gets one Application Password, `gameday-publisher`: the one in
 * GAMEDAY_WP_PUBLISHER_PASSWORD (the twin's secrets/wordpress-publisher.env), of which WordPress keeps only
 * the hash. It is what POST /api/articles asks for (routes.php). Run again with another password in the
 * environment, it replaces that application password (a rotation).
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
update_option('gameday_rewrite_version', \Gameday\REWRITE_VERSION, true);  // routes.php's rules are in
\Gameday\ensure_outbox();

/** The publisher's application password is the one in the environment (see the top): whether it changed. */
function gameday_publisher(string $password): bool
{
    $user = get_user_by('login', 'publisher');
    $user_id = $user ? $user->ID : wp_insert_user(['user_login' => 'publisher', 'user_email' => 'publisher@sandbox.invalid',
        'user_pass' => wp_generate_password(32, true, true), 'role' => 'editor', 'display_name' => 'Publisher (gameday)']);
    if (is_wp_error($user_id)) {
        fwrite(STDERR, 'the publisher user: ' . $user_id->get_error_message() . "\n");
        exit(1);
    }
    $kept = [];
    foreach (WP_Application_Passwords::get_user_application_passwords($user_id) as $item) {
        if ($item['name'] !== 'gameday-publisher') {
            $kept[] = $item;
        } elseif (wp_check_password($password, $item['password'], $user_id)) {
            return false;  // already this one
        }
    }
    // as WP_Application_Passwords::create_new_application_password stores one, with our password
    $kept[] = ['uuid' => wp_generate_uuid4(), 'app_id' => '', 'name' => 'gameday-publisher',
        'password' => wp_hash_password($password), 'created' => time(), 'last_used' => null, 'last_ip' => null];
    if (!update_user_meta($user_id, WP_Application_Passwords::USERMETA_KEY_APPLICATION_PASSWORDS, $kept)) {
        fwrite(STDERR, "the publisher's application password could not be saved\n");
        exit(1);
    }
    update_network_option(get_main_network_id(), WP_Application_Passwords::OPTION_KEY_IN_USE, true);
    return true;
}

$publisher_password = preg_replace('/[^a-z\d]/i', '', (string) getenv('GAMEDAY_WP_PUBLISHER_PASSWORD'));
if (strlen($publisher_password) < 16) {
    fwrite(STDERR, "GAMEDAY_WP_PUBLISHER_PASSWORD is not set (16 or more letters and digits)\n");
    exit(2);
}
$summary['publisher'] = gameday_publisher($publisher_password) ? 'set' : 'unchanged';

global $wpdb;
$known = array_flip($wpdb->get_col("SELECT meta_value FROM {$wpdb->postmeta} WHERE meta_key = '_gameday_id'"));
$categories = [];
$batch = 0;
// The bulk insert makes the same rows through wp_insert_post, with fewer round trips: about 22 queries and
// no Redis call an item, where it made 34 queries and about 60 Redis calls (the README's seeding figures):
// - WordPress is installed by now: without WP_INSTALLING get_option reads the options loaded once (with
//   it, each get_option is a query: about 12 an item);
// - the calendar block's flag (a published guidance post exists) is written once after the loop, not
//   once per guidance post (its handler updates the option on every publish);
// - the groups the inserts read and invalidate stay in this process's memory (about 60 Redis calls an
//   item otherwise), and the persistent cache is emptied after the loop when anything was inserted, so
//   that no page is served from what it held before (a run that inserts nothing leaves it as it is; a
//   run that fails after inserting empties it too, at exit);
// - term counts are updated once at the end; a transaction every 200 items.
wp_installing(false);
$calendar_flag = 'block_core_calendar_update_has_published_post_on_transition_post_status';
$calendar_hooked = has_action('transition_post_status', $calendar_flag);
if ($calendar_hooked !== false) {
    remove_action('transition_post_status', $calendar_flag, $calendar_hooked);
}
wp_cache_add_non_persistent_groups(['posts', 'post_meta', 'post-queries', 'terms', 'term_meta', 'term-queries',
    'category', 'category_relationships', 'post_tag_relationships', 'post_format_relationships',
    \Gameday\MONOGRAPH . '_relationships', 'timeinfo', 'calendar', 'transient', 'options', 'counts', 'general', 'default']);
$flushed = false;
add_action('shutdown', function () use (&$summary, &$flushed) {  // on exit too, before wp_cache_close()
    if ($summary['inserted'] > 0 && !$flushed) {
        wp_cache_flush();  // a failed run: its committed items must not be hidden by the cache either
    }
}, 0);
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
        'import_id' => (int) $row['id'],  // the catalogue id, if free (WordPress takes the next one if not)
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
if ($summary['inserted'] > 0) {
    if ($calendar_hooked !== false) {
        block_core_calendar_update_has_published_posts();  // the option its handler keeps, as the inserts left it
    }
    $flushed = wp_cache_flush();
    if (!$flushed) {
        fwrite(STDERR, "the object cache could not be emptied after the seed: it may serve content from before it\n");
        exit(1);
    }
}
$summary['categories'] = count($categories);

// Every seeded item (this run's and earlier runs') has its catalogue id as its post ID, or the job fails.
$misplaced = $wpdb->get_results("SELECT CAST(meta_value AS UNSIGNED) AS catalogue_id, post_id FROM {$wpdb->postmeta}"
    . " WHERE meta_key = '_gameday_id' AND CAST(meta_value AS UNSIGNED) <> post_id ORDER BY catalogue_id", ARRAY_A);
if ($wpdb->last_error !== '') {
    fwrite(STDERR, "checking the seeded post ids failed: {$wpdb->last_error}\n");
    exit(1);
}
if ($misplaced) {
    $shown = array_slice($misplaced, 0, 10);
    $pairs = implode(', ', array_map(fn($r) => "catalogue id {$r['catalogue_id']} got post ID {$r['post_id']}", $shown));
    $ids = implode(',', array_map(fn($r) => (int) $r['catalogue_id'], $shown));
    $holders = implode(', ', array_map(fn($r) => "post {$r['ID']} ({$r['post_type']}, {$r['post_status']})",
        $wpdb->get_results("SELECT ID, post_type, post_status FROM {$wpdb->posts} WHERE ID IN ($ids) ORDER BY ID", ARRAY_A)));
    fwrite(STDERR, sprintf("%d seeded item(s) did not get their catalogue id as post ID (WordPress takes the next free "
        . "id when import_id is taken): %s%s; the catalogue ids are held by: %s. Seed into an empty database: "
        . "`gameday sandbox down --wipe`, then up again\n", count($misplaced), $pairs,
        count($misplaced) > count($shown) ? ', ...' : '', $holders ?: 'nothing now'));
    exit(1);
}
$summary['database'] = ['host' => DB_HOST, 'name' => DB_NAME, 'user' => DB_USER];
echo json_encode($summary), "\n";
