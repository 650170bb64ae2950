<?php
/*
 * Takes one post out of public view through WordPress, as an editor does: reads {"id", "action"} as JSON
 * on stdin, action `unpublish` (back to draft: wp_update_post), `trash` (wp_trash_post) or `delete`
 * (wp_delete_post, bypassing the trash); the gameday plugin writes the `article.removed` event in the same
 * transaction. Prints {"id", "action", "status"} (the post's status after it, "deleted" when gone). Exit 1
 * with the reason when WordPress or the outbox refuses it.
 */
require __DIR__ . '/load.php';

$input = json_decode(stream_get_contents(STDIN), true);
$actions = ['unpublish', 'trash', 'delete'];
if (!is_array($input) || empty($input['id']) || !in_array($input['action'] ?? null, $actions, true)) {
    fwrite(STDERR, 'remove: expected a JSON object with an id and an action (' . implode(', ', $actions) . ") on stdin\n");
    exit(2);
}
wp_set_current_user(1);
$id = (int) $input['id'];
if (!get_post($id)) {
    fwrite(STDERR, "remove failed: no post $id\n");
    exit(1);
}
try {
    $result = match ($input['action']) {
        'unpublish' => wp_update_post(['ID' => $id, 'post_status' => 'draft'], true),
        'trash' => wp_trash_post($id),
        'delete' => wp_delete_post($id, true),
    };
} catch (\Gameday\OutboxError $err) {
    fwrite(STDERR, 'remove failed: ' . $err->getMessage() . "\n");
    exit(1);
}
if (is_wp_error($result) || !$result) {
    $why = is_wp_error($result) ? $result->get_error_message() : 'WordPress refused it';
    fwrite(STDERR, "remove failed: $why\n");
    exit(1);
}
clean_post_cache($id);
echo json_encode(['id' => $id, 'action' => $input['action'], 'status' => get_post_status($id) ?: 'deleted']), "\n";
