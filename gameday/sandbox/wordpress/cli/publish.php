<?php
/*
 * Publishes (or updates, when "id" is given) one post through WordPress, as an editor's save does:
 * reads {"title", "content", "excerpt"?, "type"? ("post"|"monograph"), "category"?, "id"?} as JSON on
 * stdin, calls wp_insert_post (the gameday plugin writes the content event in the same transaction)
 * and prints {"id", "permalink"}. Exit 1 with the reason when WordPress or the outbox refuses it.
 */
require __DIR__ . '/load.php';

$input = json_decode(stream_get_contents(STDIN), true);
if (!is_array($input) || empty($input['title'])) {
    fwrite(STDERR, "publish: expected a JSON object with a title on stdin\n");
    exit(2);
}
wp_set_current_user(1);
$post = [
    'post_type' => ($input['type'] ?? 'post') === 'monograph' ? \Gameday\MONOGRAPH : 'post',
    'post_status' => 'publish',
    'post_title' => wp_slash($input['title']),
    'post_content' => wp_slash($input['content'] ?? ''),
    'post_excerpt' => wp_slash($input['excerpt'] ?? ''),
];
if (!empty($input['id'])) {
    $post['ID'] = (int) $input['id'];
}
if (!empty($input['slug'])) {
    $post['post_name'] = $input['slug'];
}
if (!empty($input['category'])) {
    $term = get_term_by('name', $input['category'], 'category');
    if ($term) {
        $post['post_category'] = [$term->term_id];
    }
}
try {
    $id = isset($post['ID']) ? wp_update_post($post, true) : wp_insert_post($post, true);
} catch (\Gameday\OutboxError $err) {
    fwrite(STDERR, 'publish failed: ' . $err->getMessage() . "\n");
    exit(1);
}
if (is_wp_error($id)) {
    fwrite(STDERR, 'publish failed: ' . $id->get_error_message() . "\n");
    exit(1);
}
echo json_encode(['id' => $id, 'permalink' => get_permalink($id)]), "\n";
