<?php
/*
 * The content-event outbox: publishing or updating a guidance post or a monograph writes one event row
 * to {prefix}gameday_outbox in the same database transaction as the post itself, so an event exists if
 * and only if the change was committed (the event relay sends unsent rows to Kafka, then sets sent_at).
 *
 * The event is the one the twin's indexer consumes (the contract: gameday/site/events.py's docstring):
 * type `article.published` for a first publish and for every update alike, `id` the WordPress post id,
 * `version` one more than the post's last event (its `_gameday_version` meta, so seeded posts go on from
 * the catalogue's version), kind, slug, title, category (its name, or null), summary (the excerpt) and
 * body (the content as plain text); then what only WordPress knows: event_id (a UUID, also the outbox
 * row's and the Kafka header's, for deduplication), action (`published` | `updated`), permalink (the
 * path), gameday_id (the catalogue id of a seeded item, else null), updated_at and occurred_at (UTC).
 *
 * How: `wp_insert_post_data` (just before WordPress writes the post row) begins a transaction for a
 * published post of ours; `wp_after_insert_post` (after its meta and terms, last of all handlers)
 * takes the next version under a row lock, writes the event and commits. If the event cannot be
 * written the whole change is rolled back and an OutboxError is thrown (the publish fails). A
 * transaction left open by a publish that failed in between is rolled back at shutdown. While seeding
 * (GAMEDAY_SEEDING) no event is written.
 */
namespace Gameday;

const OUTBOX_SCHEMA = 1;
const EVENT_TYPE = 'article.published';  // the indexer's (gameday.site.events.EVENT_TYPE)
const VERSION_KEY = '_gameday_version';

final class OutboxError extends \RuntimeException
{
}

final class Outbox
{
    public static bool $open = false;  // a transaction begun for a publish is waiting for its event
}

function outbox_table(): string
{
    global $wpdb;
    return $wpdb->prefix . 'gameday_outbox';
}

/** Create the outbox table once (a DDL statement: never inside a publishing transaction). */
function ensure_outbox(): void
{
    global $wpdb;
    if ((int) get_option('gameday_outbox_schema') === OUTBOX_SCHEMA) {
        return;
    }
    $table = outbox_table();
    $ok = $wpdb->query("CREATE TABLE IF NOT EXISTS `$table` (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        event_id CHAR(36) NOT NULL,
        event_type VARCHAR(32) NOT NULL,
        post_id BIGINT UNSIGNED NOT NULL,
        post_type VARCHAR(20) NOT NULL,
        version INT UNSIGNED NOT NULL,
        payload LONGTEXT NOT NULL,
        created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        sent_at DATETIME(6) NULL,
        UNIQUE KEY event_id (event_id),
        KEY unsent (sent_at, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    if ($ok === false) {
        throw new OutboxError("cannot create the outbox table $table: " . $wpdb->last_error);
    }
    update_option('gameday_outbox_schema', OUTBOX_SCHEMA, true);
}

function seeding(): bool
{
    return defined('GAMEDAY_SEEDING') && GAMEDAY_SEEDING;
}

function tracked(string $post_type, string $status): bool
{
    return in_array($post_type, CONTENT_TYPES, true) && $status === 'publish' && !seeding();
}

function begin_publish(array $data): array
{
    global $wpdb;
    if (Outbox::$open || !tracked((string) ($data['post_type'] ?? ''), (string) ($data['post_status'] ?? ''))) {
        return $data;
    }
    ensure_outbox();
    if ($wpdb->query('START TRANSACTION') === false) {
        throw new OutboxError('cannot begin the publishing transaction: ' . $wpdb->last_error);
    }
    Outbox::$open = true;
    return $data;
}

function rollback(): void
{
    global $wpdb;
    if (Outbox::$open) {
        Outbox::$open = false;
        $wpdb->query('ROLLBACK');
    }
}

/** The event a committed change publishes (the relay's record value; fields: see the top of this file). */
function event_for(\WP_Post $post, string $action, int $version): array
{
    $categories = wp_get_post_categories($post->ID, ['fields' => 'names']);
    return [
        'event_id' => wp_generate_uuid4(),
        'type' => EVENT_TYPE,
        'action' => $action,
        'id' => $post->ID,
        'version' => $version,
        'kind' => kind_of($post->post_type),
        'slug' => $post->post_name,
        'title' => $post->post_title,
        'category' => is_array($categories) && $categories ? $categories[0] : null,
        'summary' => $post->post_excerpt,
        'body' => trim(wp_strip_all_tags($post->post_content)),  // no markup or block comments in the index
        'permalink' => wp_make_link_relative(get_permalink($post)),
        'gameday_id' => (int) get_post_meta($post->ID, '_gameday_id', true) ?: null,
        'updated_at' => str_replace(' ', 'T', $post->post_modified_gmt) . 'Z',
        'occurred_at' => gmdate('Y-m-d\\TH:i:s\\Z'),
    ];
}

/**
 * Record the post's next version in its `_gameday_version` meta and return it (0 if it could not be
 * written). Read with a locking read inside the publishing transaction, never from the object cache:
 * a persistent cache may hold an older value, and two saves of one post must never share a version
 * (the indexer keeps the first document it sees at a version).
 */
function next_version(int $post_id): int
{
    global $wpdb;
    $row = $wpdb->get_row($wpdb->prepare("SELECT meta_id, meta_value FROM {$wpdb->postmeta}"
        . ' WHERE post_id = %d AND meta_key = %s ORDER BY meta_id LIMIT 1 FOR UPDATE', $post_id, VERSION_KEY));
    if ($wpdb->last_error !== '') {
        return 0;
    }
    $version = ($row ? (int) $row->meta_value : 0) + 1;
    $ok = $row
        ? $wpdb->update($wpdb->postmeta, ['meta_value' => (string) $version], ['meta_id' => (int) $row->meta_id])
        : $wpdb->insert($wpdb->postmeta, ['post_id' => $post_id, 'meta_key' => VERSION_KEY,
            'meta_value' => (string) $version]);
    wp_cache_delete($post_id, 'post_meta');
    return $ok === false ? 0 : $version;
}

function finish_publish(int $post_id, \WP_Post $post, bool $update, ?\WP_Post $before): void
{
    global $wpdb;
    if (!tracked($post->post_type, $post->post_status)) {
        return;
    }
    if (!Outbox::$open) {  // published without wp_insert_post (wp_publish_post): a transaction of its own
        ensure_outbox();
        if ($wpdb->query('START TRANSACTION') === false) {
            throw new OutboxError('cannot begin the event transaction: ' . $wpdb->last_error);
        }
        Outbox::$open = true;
    }
    $action = ($before && $before->post_status === 'publish') ? 'updated' : 'published';
    $version = next_version($post_id);
    $event = $version > 0 ? event_for($post, $action, $version) : null;
    $ok = $event !== null && $wpdb->insert(outbox_table(), [
        'event_id' => $event['event_id'],
        'event_type' => EVENT_TYPE,
        'post_id' => $post_id,
        'post_type' => $post->post_type,
        'version' => $version,
        'payload' => wp_json_encode($event),
    ], ['%s', '%s', '%d', '%s', '%d', '%s']);
    if ($ok === false) {
        $error = $wpdb->last_error ?: 'the version could not be recorded';
        rollback();
        throw new OutboxError("content event for post $post_id not written ($error): the change was rolled back");
    }
    Outbox::$open = false;
    if ($wpdb->query('COMMIT') === false) {
        throw new OutboxError("committing post $post_id and its content event failed: " . $wpdb->last_error);
    }
}

add_filter('wp_insert_post_data', __NAMESPACE__ . '\\begin_publish', PHP_INT_MAX, 1);
add_action('wp_after_insert_post', __NAMESPACE__ . '\\finish_publish', PHP_INT_MAX, 4);
register_shutdown_function(__NAMESPACE__ . '\\rollback');
