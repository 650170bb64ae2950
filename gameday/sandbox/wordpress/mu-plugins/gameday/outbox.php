<?php
/*
 * The content-event outbox: publishing or updating a guidance post or a monograph, and taking one out of
 * public view (unpublishing it to any other status, trashing it, deleting it), writes one event row to
 * {prefix}gameday_outbox in the same database transaction as the change itself, so an event exists if and
 * only if the change was committed (the event relay sends unsent rows to Kafka, then sets sent_at).
 *
 * The events are the ones the twin's indexer consumes (the contract: gameday/site/events.py's docstring).
 * `article.published` for a first publish and for every update alike: `id` the WordPress post id,
 * `version` one more than the post's last event (its `_gameday_version` meta, so seeded posts go on from
 * the catalogue's version), kind, slug, title, category (its name, or null), summary (the excerpt) and
 * body (the content as plain text); then what only WordPress knows: event_id (a UUID, also the outbox
 * row's and the Kafka header's, for deduplication), action (`published` | `updated`), permalink (the
 * path), gameday_id (the catalogue id of a seeded item, else null), updated_at and occurred_at (UTC).
 * `article.removed` when a published post leaves public view (action `unpublished` to a draft, pending,
 * private or scheduled status, `trashed`) or a post that ever had an event is deleted (`deleted`, from
 * the trash or not): id, the next version (so the indexer's delete outranks every earlier published
 * event, and a re-publish outranks the removal), kind, slug (without WordPress's `__trashed` suffix),
 * permalink (while it was public, else null), gameday_id, event_id and occurred_at.
 *
 * How: `wp_insert_post_data` (just before WordPress writes the post row) begins a transaction for a
 * post of ours being published, or being moved out of `publish` as the database has it; then
 * `wp_after_insert_post` (after its meta and terms, last of all handlers) takes the next version under
 * a row lock, writes the event and commits. wp_trash_post() changes the post before that (its trash
 * meta, then the `__trashed` slug suffix, each committed at once): the `wp_trash_post` action begins
 * the transaction first, so those are undone with the rest. A delete: `before_delete_post` begins the
 * transaction and writes the event, `deleted_post` (after the post row is gone) commits it. If the
 * event cannot be written the whole change is rolled back (and the post's cache cleaned, a persistent
 * object cache included) and an OutboxError is thrown (the publish, unpublish, trash or delete fails).
 * A transaction left open by a change that failed in between is rolled back at shutdown. While seeding
 * (GAMEDAY_SEEDING) no event is written.
 */
namespace Gameday;

const OUTBOX_SCHEMA = 1;
const EVENT_TYPE = 'article.published';  // the indexer's (gameday.site.events.EVENT_TYPE)
const REMOVED_TYPE = 'article.removed';  // gameday.site.events.REMOVED_TYPE: the indexer deletes the document
const VERSION_KEY = '_gameday_version';

final class OutboxError extends \RuntimeException
{
}

final class Outbox
{
    public static bool $open = false;  // a transaction begun for a change is waiting for its event
    public static int $removing = 0;   // the post the open transaction takes out of `publish` (0: none)
    public static int $deleting = 0;   // the post whose delete the open transaction holds (0: none)
    public static string $last_event = '';  // the event_id of the last event written by this request
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

/** A post type whose changes write events (not while seeding). */
function ours(string $post_type): bool
{
    return in_array($post_type, CONTENT_TYPES, true) && !seeding();
}

/**
 * Create the outbox if need be, then begin the transaction the change and its event share, at READ
 * COMMITTED: at MySQL's default REPEATABLE READ the version's locking read of a post with no version yet
 * (a new post) takes a gap lock on wp_postmeta's index, and two new posts published at once then each
 * wait for the other's gap to insert their version: a deadlock, one publish rolled back ("Deadlock found
 * when trying to get lock", make test, 3 publishes at once). At READ COMMITTED a locking read locks only
 * the rows it finds; two saves of one post are kept apart by the post's row (next_version locks it).
 */
function begin(string $what): void
{
    global $wpdb;
    ensure_outbox();
    if ($wpdb->query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED') === false) {
        throw new OutboxError("cannot set the $what transaction's isolation: " . $wpdb->last_error);
    }
    if ($wpdb->query('START TRANSACTION') === false) {
        throw new OutboxError("cannot begin the $what transaction: " . $wpdb->last_error);
    }
    Outbox::$open = true;
}

/** The post's status as the database has it (not the object cache, which may be behind). */
function status_in_database(int $post_id): string
{
    global $wpdb;
    return (string) $wpdb->get_var($wpdb->prepare("SELECT post_status FROM {$wpdb->posts} WHERE ID = %d", $post_id));
}

function begin_publish(array $data, array $postarr = []): array
{
    if (Outbox::$open || !ours((string) ($data['post_type'] ?? ''))) {
        return $data;
    }
    $post_id = (int) ($postarr['ID'] ?? 0);
    $publishing = ($data['post_status'] ?? '') === 'publish';
    $removing = !$publishing && $post_id > 0 && status_in_database($post_id) === 'publish';
    if ($publishing || $removing) {
        begin($publishing ? 'publishing' : 'unpublishing');
        Outbox::$removing = $removing ? $post_id : 0;
    }
    return $data;
}

/** wp_trash_post() of a published post of ours: the transaction begins before its first change. */
function begin_trash(int $post_id): void
{
    $post = get_post($post_id);
    if (!Outbox::$open && $post && ours($post->post_type) && status_in_database($post_id) === 'publish') {
        begin('trashing');
        Outbox::$removing = $post_id;
    }
}

function rollback(): void
{
    global $wpdb;
    if (Outbox::$open) {
        $post_id = Outbox::$removing ?: Outbox::$deleting;
        Outbox::$open = false;
        Outbox::$removing = Outbox::$deleting = 0;
        $wpdb->query('ROLLBACK');
        if ($post_id) {
            clean_post_cache($post_id);  // it may hold what the rolled-back change wrote
        }
    }
}

function commit(int $post_id): void
{
    global $wpdb;
    Outbox::$open = false;
    Outbox::$removing = Outbox::$deleting = 0;
    if ($wpdb->query('COMMIT') === false) {
        throw new OutboxError("committing post $post_id and its content event failed: " . $wpdb->last_error);
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

/** The `article.removed` event of a post as it was before the change ($post: published, or being deleted). */
function removal_for(\WP_Post $post, string $action, int $version): array
{
    return [
        'event_id' => wp_generate_uuid4(),
        'type' => REMOVED_TYPE,
        'action' => $action,
        'id' => $post->ID,
        'version' => $version,
        'kind' => kind_of($post->post_type),
        'slug' => preg_replace('/__trashed$/', '', $post->post_name),
        'permalink' => $post->post_status === 'publish' ? wp_make_link_relative(get_permalink($post)) : null,
        'gameday_id' => (int) get_post_meta($post->ID, '_gameday_id', true) ?: null,
        'occurred_at' => gmdate('Y-m-d\\TH:i:s\\Z'),
    ];
}

/**
 * Record the post's next version in its `_gameday_version` meta and return it (0 if it could not be
 * written). Read with a locking read inside the publishing transaction (after locking the post's row),
 * never from the object cache: a persistent cache may hold an older value, and two saves of one post must
 * never share a version (the indexer keeps the first document it sees at a version).
 */
function next_version(int $post_id): int
{
    global $wpdb;
    // the post's own row first: every save of this post (an update, a trash, a delete begun before the
    // post row is touched) waits here for the one before it to commit, then reads its version
    $wpdb->get_var($wpdb->prepare("SELECT ID FROM {$wpdb->posts} WHERE ID = %d FOR UPDATE", $post_id));
    if ($wpdb->last_error !== '') {
        return 0;
    }
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

/**
 * Write the post's next event in the open transaction: `$build(version)` makes it. On failure the
 * transaction is rolled back and an OutboxError thrown.
 */
function write_event(int $post_id, string $post_type, callable $build): void
{
    global $wpdb;
    $version = next_version($post_id);
    $event = $version > 0 ? $build($version) : null;
    $ok = $event !== null && $wpdb->insert(outbox_table(), [
        'event_id' => $event['event_id'],
        'event_type' => $event['type'],
        'post_id' => $post_id,
        'post_type' => $post_type,
        'version' => $version,
        'payload' => wp_json_encode($event),
    ], ['%s', '%s', '%d', '%s', '%d', '%s']);
    if ($ok === false) {
        $error = $wpdb->last_error ?: 'the version could not be recorded';
        rollback();
        throw new OutboxError("content event for post $post_id not written ($error): the change was rolled back");
    }
    Outbox::$last_event = $event['event_id'];
}

/**
 * Whether the event relay marked outbox event $event_id sent (Kafka acknowledged it) within $budget seconds,
 * polling its row every $every seconds (after the commit: each read sees the relay's mark). A database
 * error or an unknown event is "not yet".
 */
function relayed_within(string $event_id, float $budget, float $every = 0.1): bool
{
    global $wpdb;
    $deadline = microtime(true) + $budget;
    $table = outbox_table();
    for ($polls = (int) ceil($budget / $every) + 2; $polls > 0; $polls--) {
        $sent = $wpdb->get_var($wpdb->prepare("SELECT sent_at IS NOT NULL FROM `$table` WHERE event_id = %s", $event_id));
        if ((string) $sent === '1') {
            return true;
        }
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            return false;
        }
        usleep((int) (min($every, $left) * 1e6));
    }
    return false;
}

function finish_publish(int $post_id, \WP_Post $post, bool $update, ?\WP_Post $before): void
{
    if (!ours($post->post_type)) {
        return;
    }
    if ($post->post_status === 'publish') {
        if (!Outbox::$open) {  // published without wp_insert_post (wp_publish_post): a transaction of its own
            begin('event');
        }
        $action = ($before && $before->post_status === 'publish') ? 'updated' : 'published';
        write_event($post_id, $post->post_type, fn(int $version) => event_for($post, $action, $version));
    } elseif (Outbox::$open && Outbox::$removing === $post_id) {
        $action = $post->post_status === 'trash' ? 'trashed' : 'unpublished';
        $was = ($before && $before->post_status === 'publish') ? $before : $post;
        write_event($post_id, $post->post_type, fn(int $version) => removal_for($was, $action, $version));
    } else {
        return;  // a draft saved, or the like: no event
    }
    commit($post_id);
}

/** Does the post have a version, i.e. did it ever write an event (or was it seeded with one)? */
function has_version(int $post_id): bool
{
    global $wpdb;
    return (bool) $wpdb->get_var($wpdb->prepare("SELECT 1 FROM {$wpdb->postmeta} WHERE post_id = %d AND meta_key = %s"
        . ' LIMIT 1', $post_id, VERSION_KEY));
}

function begin_delete(int $post_id, ?\WP_Post $post = null): void
{
    $post = $post ?? get_post($post_id);
    if (Outbox::$open || !$post || !ours($post->post_type)
        || ($post->post_status !== 'publish' && !has_version($post_id))) {
        return;  // a post that never had an event is in no index
    }
    begin('deleting');
    Outbox::$deleting = $post_id;
    write_event($post_id, $post->post_type, fn(int $version) => removal_for($post, 'deleted', $version));
}

function finish_delete(int $post_id): void
{
    if (Outbox::$open && Outbox::$deleting === $post_id) {  // not a revision's delete inside it
        commit($post_id);
    }
}

add_filter('wp_insert_post_data', __NAMESPACE__ . '\\begin_publish', PHP_INT_MAX, 2);
add_action('wp_after_insert_post', __NAMESPACE__ . '\\finish_publish', PHP_INT_MAX, 4);
add_action('wp_trash_post', __NAMESPACE__ . '\\begin_trash', PHP_INT_MAX, 1);
add_action('before_delete_post', __NAMESPACE__ . '\\begin_delete', PHP_INT_MAX, 2);
add_action('deleted_post', __NAMESPACE__ . '\\finish_delete', PHP_INT_MAX, 1);
register_shutdown_function(__NAMESPACE__ . '\\rollback');
