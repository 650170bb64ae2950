<?php
/*
 * The content-event outbox: publishing or updating a guidance post or a monograph writes one event row
 * to {prefix}gameday_outbox in the same database transaction as the post itself, so an event exists if
 * and only if the change was committed (the event relay sends unsent rows to Kafka, then sets sent_at).
 *
 * How: `wp_insert_post_data` (just before WordPress writes the post row) begins a transaction for a
 * published post of ours; `wp_after_insert_post` (after its meta and terms, last of all handlers)
 * writes the event and commits. If the event cannot be written the whole change is rolled back and an
 * OutboxError is thrown (the publish fails). A transaction left open by a publish that failed in
 * between is rolled back at shutdown. While seeding (GAMEDAY_SEEDING) no event is written.
 */
namespace Gameday;

const OUTBOX_SCHEMA = 1;

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

/** The event a committed change publishes (the relay's record value). */
function event_for(\WP_Post $post, string $type, int $version): array
{
    $categories = wp_get_post_categories($post->ID, ['fields' => 'slugs']);
    return [
        'event_id' => wp_generate_uuid4(),
        'type' => $type,
        'post_id' => $post->ID,
        'post_type' => $post->post_type,
        'kind' => kind_of($post->post_type),
        'gameday_id' => (int) get_post_meta($post->ID, '_gameday_id', true) ?: null,
        'slug' => $post->post_name,
        'title' => $post->post_title,
        'summary' => $post->post_excerpt,
        'category' => is_array($categories) && $categories ? $categories[0] : null,
        'permalink' => wp_make_link_relative(get_permalink($post)),
        'version' => $version,
        'modified_gmt' => $post->post_modified_gmt,
        'occurred_at' => gmdate('Y-m-d\TH:i:s\Z'),
    ];
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
    $type = ($before && $before->post_status === 'publish') ? 'content.updated' : 'content.published';
    $version = (int) get_post_meta($post_id, '_gameday_version', true) + 1;
    $meta_ok = update_post_meta($post_id, '_gameday_version', $version);
    $event = event_for($post, $type, $version);
    $ok = $meta_ok !== false && $wpdb->insert(outbox_table(), [
        'event_id' => $event['event_id'],
        'event_type' => $type,
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
