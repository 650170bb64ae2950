<?php
/*
 * The JSON API the front end calls (WordPress REST routes under /wp-json/gameday/v1):
 *
 *   GET posts?type=post|monograph|any&category=<slug>&page=1&per_page=20  -> {items, total, page, per_page}
 *   GET posts/<id>                                                         -> one item, with its content
 *   GET resolve?path=/monographs/<slug>/                                   -> the item at that permalink
 *   GET search?q=<words>&size=10  -> {query, source, total, items} (+ fallback, notice: see search.php)
 *
 * An item: {id, type, kind, slug, title, excerpt, category, permalink, path, modified_gmt, gameday_id}.
 */
namespace Gameday;

function item(\WP_Post $post, bool $full = false): array
{
    $categories = get_the_category($post->ID);
    $permalink = get_permalink($post);
    $item = [
        'id' => $post->ID,
        'type' => $post->post_type,
        'kind' => kind_of($post->post_type),
        'slug' => $post->post_name,
        'title' => get_the_title($post),
        'excerpt' => $post->post_excerpt,
        'category' => $categories ? $categories[0]->name : null,
        'permalink' => $permalink,
        'path' => wp_make_link_relative($permalink),
        'modified_gmt' => $post->post_modified_gmt,
        'gameday_id' => ((int) get_post_meta($post->ID, '_gameday_id', true)) ?: null,
    ];
    if ($full) {
        $item['content'] = $post->post_content;
    }
    return $item;
}

function api_posts(\WP_REST_Request $request): \WP_REST_Response
{
    $type = (string) ($request['type'] ?? 'any');
    $page = max(1, (int) ($request['page'] ?? 1));
    $per_page = min(100, max(1, (int) ($request['per_page'] ?? 20)));
    $args = ['post_type' => $type === 'any' ? CONTENT_TYPES : $type, 'post_status' => 'publish',
        'paged' => $page, 'posts_per_page' => $per_page, 'orderby' => 'ID', 'order' => 'ASC'];
    if (!empty($request['category'])) {
        $args['category_name'] = (string) $request['category'];
    }
    $query = new \WP_Query($args);
    return new \WP_REST_Response(['items' => array_map(fn($p) => item($p), $query->posts),
        'total' => (int) $query->found_posts, 'page' => $page, 'per_page' => $per_page]);
}

function api_post(\WP_REST_Request $request)
{
    $post = get_post((int) $request['id']);
    if (!$post || $post->post_status !== 'publish' || !in_array($post->post_type, CONTENT_TYPES, true)) {
        return new \WP_Error('not_found', 'no published post or monograph with that id', ['status' => 404]);
    }
    return new \WP_REST_Response(item($post, true));
}

function api_resolve(\WP_REST_Request $request)
{
    // the permalink's last segment is the slug; the post whose permalink is exactly this path is the one
    // (url_to_postid stops at the first rewrite rule that matches, a page rule under /%category%/...)
    $path = '/' . trim((string) $request['path'], '/') . '/';
    $slug = basename($path);
    $candidates = get_posts(['post_type' => CONTENT_TYPES, 'post_status' => 'publish', 'name' => $slug,
        'posts_per_page' => 10, 'no_found_rows' => true]);
    foreach ($candidates as $post) {
        if (wp_make_link_relative(get_permalink($post)) === $path) {
            return new \WP_REST_Response(item($post, true));
        }
    }
    return new \WP_Error('not_found', "nothing published at $path", ['status' => 404]);
}

function api_search(\WP_REST_Request $request): \WP_REST_Response
{
    $q = trim((string) $request['q']);
    $size = min(50, max(1, (int) ($request['size'] ?? 10)));
    $result = ['query' => $q] + search($q, $size);
    $response = new \WP_REST_Response($result);
    if (isset($result['fallback'])) {
        $response->header('X-Gameday-Degraded', 'search');
    }
    return $response;
}

function register_api(): void
{
    $public = ['permission_callback' => '__return_true', 'methods' => 'GET'];
    register_rest_route('gameday/v1', '/posts', $public + ['callback' => __NAMESPACE__ . '\\api_posts', 'args' => [
        'type' => ['enum' => ['any', 'post', MONOGRAPH], 'default' => 'any'],
        'page' => ['type' => 'integer', 'default' => 1],
        'per_page' => ['type' => 'integer', 'default' => 20],
        'category' => ['type' => 'string'],
    ]]);
    register_rest_route('gameday/v1', '/posts/(?P<id>\d+)', $public + ['callback' => __NAMESPACE__ . '\\api_post']);
    register_rest_route('gameday/v1', '/resolve', $public + ['callback' => __NAMESPACE__ . '\\api_resolve',
        'args' => ['path' => ['type' => 'string', 'required' => true]]]);
    register_rest_route('gameday/v1', '/search', $public + ['callback' => __NAMESPACE__ . '\\api_search',
        'args' => ['q' => ['type' => 'string', 'required' => true], 'size' => ['type' => 'integer', 'default' => 10]]]);
}

add_action('rest_api_init', __NAMESPACE__ . '\\register_api');
