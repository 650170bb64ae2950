<?php
/*
 * Search, as ElasticPress does it: the query goes to OpenSearch (GAMEDAY_SEARCH_URLS, user
 * GAMEDAY_SEARCH_USER, password from the environment's GAMEDAY_SEARCH_PASSWORD, CA GAMEDAY_SEARCH_CA,
 * index GAMEDAY_CONTENT_INDEX; each node tried in turn, GAMEDAY_SEARCH_TIMEOUT seconds each). When no
 * node answers (or none is configured) the answer comes from WordPress's own MySQL search instead, with
 * "fallback": "mysql" and a notice saying why, so the front end can tell its readers.
 *
 *     search('apixaban', 10) => ['source' => 'opensearch'|'mysql', 'total' => n, 'items' => [...],
 *                                'fuzzy' => bool,                             (from OpenSearch only)
 *                                'fallback' => 'mysql', 'notice' => '...']   (the last two on fallback only)
 *
 * Both match the words of the query in the title, the summary (the excerpt) and the body; OpenSearch
 * ranks and forgives misspellings (see opensearch()), MySQL (WP_Query's `s`) matches each word as a
 * substring of title, excerpt or content. Every item is a published post or monograph (see item()).
 */
namespace Gameday;

function search_urls(): array
{
    $raw = defined('GAMEDAY_SEARCH_URLS') ? (string) GAMEDAY_SEARCH_URLS : '';
    return array_values(array_filter(array_map('trim', explode(',', $raw))));
}

function search_request(string $url, array $query, int $size): array
{
    $index = defined('GAMEDAY_CONTENT_INDEX') ? GAMEDAY_CONTENT_INDEX : 'content';
    $args = [
        'timeout' => defined('GAMEDAY_SEARCH_TIMEOUT') ? GAMEDAY_SEARCH_TIMEOUT : 2,
        // uncompressed: OpenSearch compresses for WordPress's default Accept-Encoding, and the answer
        // then reached json_decode still compressed (seen with OpenSearch 2.19 and WordPress 6.1)
        'decompress' => false,
        'headers' => ['Content-Type' => 'application/json', 'Accept-Encoding' => 'identity'],
        'body' => wp_json_encode(['size' => $size, 'track_total_hits' => 1000, 'query' => $query,
            '_source' => ['title', 'slug', 'kind', 'category', 'summary']]),
    ];
    $user = defined('GAMEDAY_SEARCH_USER') ? (string) GAMEDAY_SEARCH_USER : '';
    if ($user !== '') {
        $args['headers']['Authorization'] = 'Basic ' . base64_encode($user . ':' . (string) getenv('GAMEDAY_SEARCH_PASSWORD'));
    }
    if (defined('GAMEDAY_SEARCH_CA') && GAMEDAY_SEARCH_CA !== '') {
        $args['sslcertificates'] = GAMEDAY_SEARCH_CA;
    }
    $response = wp_remote_post(rtrim($url, '/') . '/' . rawurlencode($index) . '/_search', $args);
    if (is_wp_error($response)) {
        throw new \RuntimeException($response->get_error_message());
    }
    $code = (int) wp_remote_retrieve_response_code($response);
    $body = json_decode(wp_remote_retrieve_body($response), true);
    if ($code !== 200 || !is_array($body) || !isset($body['hits']['hits'])) {
        throw new \RuntimeException("HTTP $code");
    }
    return $body['hits'];
}

/**
 * Exact words over title^3, summary^2 and body; if nothing matched, fuzzy words over title and summary
 * (the Python site's query: gameday.site.search.SearchClient.search, with its prefix_length and
 * max_expansions). A hit's document id is the post id (the content event's `id`): each hit is the
 * published post or monograph with that id, of the hit's kind; a hit whose post is no longer published
 * (the index not yet past its `article.removed` event) or is of another kind (a document that is not
 * this post) is not served, and not counted.
 */
function opensearch(string $url, string $q, int $size): array
{
    $fuzzy = false;
    $hits = search_request($url, ['multi_match' => ['query' => $q, 'fields' => ['title^3', 'summary^2', 'body'],
        'operator' => 'and']], $size);
    if (!$hits['hits']) {
        $fuzzy = true;
        $hits = search_request($url, ['multi_match' => ['query' => $q, 'fields' => ['title^3', 'summary^2'],
            'fuzziness' => 'AUTO', 'prefix_length' => 1, 'max_expansions' => 10, 'operator' => 'and']], $size);
    }
    $posts = published_by_id(array_map(fn($h) => (int) ($h['_id'] ?? 0), $hits['hits']));
    $items = [];
    foreach ($hits['hits'] as $hit) {
        $post = $posts[(int) ($hit['_id'] ?? 0)] ?? null;
        if ($post && kind_of($post->post_type) === ($hit['_source']['kind'] ?? null)) {
            $items[] = item($post) + ['score' => $hit['_score'] ?? null];
        }
    }
    $total = (int) ($hits['total']['value'] ?? count($hits['hits']));
    return ['source' => 'opensearch', 'fuzzy' => $fuzzy, 'items' => $items,
        'total' => max(count($items), $total - (count($hits['hits']) - count($items)))];
}

/** Published posts and monographs by id (one query), for search hits. */
function published_by_id(array $ids): array
{
    $ids = array_values(array_unique(array_filter($ids)));
    if (!$ids) {
        return [];
    }
    $found = get_posts(['post_type' => CONTENT_TYPES, 'post_status' => 'publish', 'post__in' => $ids,
        'posts_per_page' => count($ids), 'no_found_rows' => true]);
    $by_id = [];
    foreach ($found as $post) {
        $by_id[$post->ID] = $post;
    }
    return $by_id;
}

function mysql_search(string $q, int $size, string $why): array
{
    $query = new \WP_Query(['s' => $q, 'post_type' => CONTENT_TYPES, 'post_status' => 'publish',
        'posts_per_page' => $size]);
    return [
        'source' => 'mysql',
        'fallback' => 'mysql',
        'notice' => "Search is running in fallback mode ($why): results come from WordPress's own database "
            . 'search, which matches words exactly and ranks them less well.',
        'total' => (int) $query->found_posts,
        'items' => array_map(fn($post) => item($post), $query->posts),
    ];
}

function search(string $q, int $size = 10): array
{
    $urls = search_urls();
    if (!$urls) {
        return mysql_search($q, $size, 'OpenSearch is not configured');
    }
    $errors = [];
    foreach ($urls as $url) {
        try {
            return opensearch($url, $q, $size);
        } catch (\RuntimeException $err) {
            $errors[] = wp_parse_url($url, PHP_URL_HOST) . ':' . wp_parse_url($url, PHP_URL_PORT) . ' ' . $err->getMessage();
        }
    }
    return mysql_search($q, $size, 'OpenSearch unavailable: ' . implode('; ', $errors));
}
