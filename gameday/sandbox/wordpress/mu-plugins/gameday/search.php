<?php
/*
 * Search, as ElasticPress does it: the query goes to OpenSearch (GAMEDAY_SEARCH_URLS, user
 * GAMEDAY_SEARCH_USER, password from the environment's GAMEDAY_SEARCH_PASSWORD, CA GAMEDAY_SEARCH_CA,
 * index GAMEDAY_CONTENT_INDEX). When no node answers (or none is configured) the answer comes from
 * WordPress's own MySQL search instead, with "fallback": "mysql" and a notice saying why, so the front end
 * can tell its readers, and the response header `X-Gameday-Degraded: search`.
 *
 *     search('apixaban', 10) => ['source' => 'opensearch'|'mysql', 'total' => n, 'items' => [...],
 *                                'took_ms' => ms, 'fuzzy' => bool,            (the last from OpenSearch only)
 *                                'fallback' => 'mysql', 'notice' => '...']   (the last two on fallback only)
 *     site_search('apixaban', 10) => the Python site's /api/search body (routes.php): q, total, took_ms, hits
 *
 * Fast when search is down, as the Python site's client (gameday.site.search.SearchClient): the nodes are
 * tried in turn within one budget of GAMEDAY_SEARCH_TIMEOUT seconds for the whole search (2 s; the
 * fallback's MySQL query comes on top, so a reader has the answer within ~2.5 s), a connect within at most
 * 1 s of it (it includes the TLS handshake). A node that failed is skipped by every worker of this replica
 * for PROBE_AFTER seconds (a file per node in the pool's temporary directory), then tried again; so while
 * a node is frozen one search a second pays its timeout, not every search.
 *
 * The secured cluster (the twin's: HTTPS with the twin's CA, basic auth as `elastic`): the requests go
 * through PHP's own TLS streams (WordPress's HTTP API has no cURL here, and its fsockopen transport
 * checks names only against DNS entries, not the IP addresses the nodes' certificate names), verifying
 * the node's certificate against GAMEDAY_SEARCH_CA and its name (an IP address or a host name).
 *
 * Both match the words of the query in the title, the summary (the excerpt) and the body; OpenSearch
 * ranks and forgives misspellings (see opensearch()), MySQL (WP_Query's `s`) matches each word as a
 * substring of title, excerpt or content. Every item is a published post or monograph (see item()).
 */
namespace Gameday;

const PROBE_AFTER = 1.0;        // a failed node is skipped this long (seconds) by every worker of the replica
const CONNECT_TIMEOUT = 1.0;    // at most, of the budget, for a TCP connect + TLS handshake

final class Degraded
{
    public static ?string $search = null;  // why this request's search fell back to MySQL (null: it did not)
}

function search_urls(): array
{
    $raw = defined('GAMEDAY_SEARCH_URLS') ? (string) GAMEDAY_SEARCH_URLS : '';
    return array_values(array_filter(array_map('trim', explode(',', $raw))));
}

function search_budget(): float
{
    return (float) (defined('GAMEDAY_SEARCH_TIMEOUT') ? GAMEDAY_SEARCH_TIMEOUT : 2);
}

/** Where this replica's workers note a node that failed (the pool's own temporary directory). */
function breaker_file(string $url): string
{
    $dir = ini_get('upload_tmp_dir') ?: sys_get_temp_dir();
    return rtrim($dir, '/') . '/gameday-search-' . md5($url) . '.down';
}

function recently_failed(string $url): ?string
{
    $file = breaker_file($url);
    $text = @file_get_contents($file);
    if (!is_string($text) || $text === '') {
        return null;
    }
    [$at, $why] = array_pad(explode(' ', $text, 2), 2, '');
    $age = microtime(true) - (float) $at;
    return $age >= 0 && $age < PROBE_AFTER ? sprintf('%s %.1fs ago, skipped', trim($why), $age) : null;
}

function mark_node(string $url, ?string $problem): void
{
    $file = breaker_file($url);
    if ($problem === null) {
        if (file_exists($file)) {
            @unlink($file);
        }
        return;
    }
    @file_put_contents($file, sprintf('%.3f %s', microtime(true), $problem), LOCK_EX);
}

/**
 * One HTTP/1.1 request over a TCP or TLS stream, within $deadline (microtime): [status, body]. Throws
 * RuntimeException (a short reason) on a refused or timed-out connection, a certificate that does not
 * verify, or an answer that is not HTTP.
 *
 * The connection is kept for the worker's next request to the same node (a persistent stream, keep-alive),
 * as the Python site's pooled session keeps its own: a new TLS connection (through toxiproxy) for every
 * query, two for a misspelling, cost 23 ms against 1 ms on a kept one on a quiet machine, and on the twin's
 * busy 2 cores 197 of the searches that ran past 1 s were still in the connect and handshake. A kept
 * connection the node closed meanwhile (a restart, an idle timeout) answers nothing: the request, a search
 * and safe to repeat, is sent once more on a new connection within the same deadline. Any other failure
 * closes the connection, so a frozen node's is not kept.
 */
function http_request(string $method, string $url, string $body, array $headers, float $deadline): array
{
    try {
        return http_exchange($method, $url, $body, $headers, $deadline);
    } catch (ClosedBeforeAnswer $stale) {
        return http_exchange($method, $url, $body, $headers, $deadline);
    }
}

/** A connection that ended before any byte of the answer (a kept connection the node had closed). */
final class ClosedBeforeAnswer extends \RuntimeException
{
}

function http_exchange(string $method, string $url, string $body, array $headers, float $deadline): array
{
    $parts = parse_url($url);
    $tls = ($parts['scheme'] ?? 'http') === 'https';
    $host = (string) ($parts['host'] ?? '');
    $port = (int) ($parts['port'] ?? ($tls ? 443 : 80));
    $path = ($parts['path'] ?? '/') . (isset($parts['query']) ? '?' . $parts['query'] : '');
    $ssl = ['verify_peer' => true, 'verify_peer_name' => true, 'peer_name' => trim($host, '[]'),
        'allow_self_signed' => false, 'SNI_enabled' => !filter_var(trim($host, '[]'), FILTER_VALIDATE_IP)];
    if (defined('GAMEDAY_SEARCH_CA') && GAMEDAY_SEARCH_CA !== '') {
        $ssl['cafile'] = GAMEDAY_SEARCH_CA;
    }
    $context = stream_context_create(['ssl' => $ssl]);
    $left = $deadline - microtime(true);
    if ($left < 0.05) {
        throw new \RuntimeException('not tried (time budget spent)');
    }
    $errno = 0;
    $errstr = '';
    $connect_timeout = min(CONNECT_TIMEOUT, $left);
    $started = microtime(true);
    $warning = '';
    set_error_handler(static function (int $no, string $message) use (&$warning): bool {
        $warning = $message;  // a failed connect or handshake: reported below, not as a PHP warning
        return true;
    });
    try {
        $stream = stream_socket_client(($tls ? 'tls' : 'tcp') . "://$host:$port", $errno, $errstr,
            $connect_timeout, STREAM_CLIENT_CONNECT | STREAM_CLIENT_PERSISTENT, $context);
    } finally {
        restore_error_handler();
    }
    if ($stream === false) {
        $why = $errstr !== '' ? $errstr : ($warning !== '' ? $warning : 'connection failed');
        if (microtime(true) - $started >= $connect_timeout - 0.05 || stripos($why, 'timed out') !== false) {
            $why = 'timed out';
        } elseif (stripos($why, 'refused') !== false) {
            $why = 'connection refused';
        } elseif (stripos($why, 'certificate') !== false) {
            $why = 'TLS certificate not verified';
        }
        throw new \RuntimeException($why);
    }
    $keep = false;
    try {
        $head = "$method $path HTTP/1.1\r\nHost: $host:$port\r\nConnection: keep-alive\r\n"
            . 'Content-Length: ' . strlen($body) . "\r\n";
        foreach ($headers as $name => $value) {
            $head .= "$name: $value\r\n";
        }
        $request = $head . "\r\n" . $body;
        while ($request !== '') {
            stream_set_timeout($stream, ...timeout_parts($deadline));
            $sent = @fwrite($stream, $request);
            if ($sent === false || $sent === 0) {
                if (stream_get_meta_data($stream)['timed_out']) {
                    throw new \RuntimeException('timed out');
                }
                throw new ClosedBeforeAnswer('connection lost');
            }
            $request = (string) substr($request, $sent);
        }
        $raw = '';
        while (($split = strpos($raw, "\r\n\r\n")) === false) {
            $more = read_some($stream, $deadline);
            if ($more === null) {
                throw $raw === '' ? new ClosedBeforeAnswer('connection lost') : new \RuntimeException('no HTTP answer');
            }
            $raw .= $more;
        }
        if (!preg_match('#^HTTP/1\.[01] (\d{3})#', $raw, $m)) {
            throw new \RuntimeException('no HTTP answer');
        }
        $head = substr($raw, 0, $split);
        $payload = substr($raw, $split + 4);
        $keep = !preg_match('/^connection:\s*close/im', $head) && !preg_match('#^HTTP/1\.0#', $head);
        if (preg_match('/^transfer-encoding:\s*chunked/im', $head)) {
            $payload = read_chunked($stream, $payload, $deadline);
        } elseif (preg_match('/^content-length:\s*(\d+)/im', $head, $length)) {
            while (strlen($payload) < (int) $length[1]) {
                $more = read_some($stream, $deadline);
                if ($more === null) {
                    throw new \RuntimeException('connection lost');
                }
                $payload .= $more;
            }
        } else {  // the body ends with the connection
            $keep = false;
            while (($more = read_some($stream, $deadline)) !== null) {
                $payload .= $more;
            }
        }
    } catch (\RuntimeException $err) {
        $keep = false;
        throw $err;
    } finally {
        if (!$keep) {
            fclose($stream);  // a persistent stream too: the next request makes a new connection
        }
    }
    return [(int) $m[1], $payload];
}

/** The next bytes of the answer, or null when the node closed the connection; throws past the deadline. */
function read_some($stream, float $deadline): ?string
{
    while (true) {
        if (microtime(true) >= $deadline) {
            throw new \RuntimeException('timed out');
        }
        stream_set_timeout($stream, ...timeout_parts($deadline));
        $chunk = @fread($stream, 65536);
        if (is_string($chunk) && $chunk !== '') {
            return $chunk;
        }
        if (stream_get_meta_data($stream)['timed_out']) {
            throw new \RuntimeException('timed out');
        }
        if ($chunk === false || feof($stream)) {
            return null;
        }
    }
}

/** A chunked body, whose first bytes are $data: read until its last (empty) chunk, then de-chunked. */
function read_chunked($stream, string $data, float $deadline): string
{
    $out = '';
    while (true) {
        while (($eol = strpos($data, "\r\n")) === false) {
            $data .= read_or_lost($stream, $deadline);
        }
        $size = hexdec(trim(explode(';', substr($data, 0, $eol))[0]));
        if ($size <= 0) {
            while (strpos($data, "\r\n\r\n", $eol) === false && substr($data, $eol, 4) !== "\r\n\r\n") {
                $data .= read_or_lost($stream, $deadline);  // the trailer's end (no trailers: one more CRLF)
            }
            return $out;
        }
        while (strlen($data) < $eol + 2 + $size + 2) {
            $data .= read_or_lost($stream, $deadline);
        }
        $out .= substr($data, $eol + 2, $size);
        $data = (string) substr($data, $eol + 2 + $size + 2);
    }
}

function read_or_lost($stream, float $deadline): string
{
    $more = read_some($stream, $deadline);
    if ($more === null) {
        throw new \RuntimeException('connection lost');
    }
    return $more;
}

/** [seconds, microseconds] left until $deadline, for stream_set_timeout (at least 1 ms). */
function timeout_parts(float $deadline): array
{
    $left = max(0.001, $deadline - microtime(true));
    return [(int) $left, (int) (($left - (int) $left) * 1e6)];
}

function search_request(string $url, array $query, int $size, float $deadline): array
{
    $index = defined('GAMEDAY_CONTENT_INDEX') ? GAMEDAY_CONTENT_INDEX : 'content';
    $headers = ['Content-Type' => 'application/json', 'Accept' => 'application/json'];
    $user = defined('GAMEDAY_SEARCH_USER') ? (string) GAMEDAY_SEARCH_USER : '';
    if ($user !== '') {
        $headers['Authorization'] = 'Basic ' . base64_encode($user . ':' . (string) getenv('GAMEDAY_SEARCH_PASSWORD'));
    }
    $body = wp_json_encode(['size' => $size, 'track_total_hits' => 1000, 'query' => $query,
        '_source' => ['title', 'slug', 'kind', 'category', 'summary']]);
    [$code, $payload] = http_request('POST', rtrim($url, '/') . '/' . rawurlencode($index) . '/_search', $body,
        $headers, $deadline);
    $answer = json_decode($payload, true);
    if ($code !== 200 || !is_array($answer) || !isset($answer['hits']['hits'])) {
        throw new \RuntimeException("HTTP $code");  // never the body: it may echo the request
    }
    return ['hits' => $answer['hits'], 'took' => (int) ($answer['took'] ?? 0)];
}

/**
 * Exact words over title^3, summary^2 and body; if nothing matched, fuzzy words over title and summary
 * (the Python site's query: gameday.site.search.SearchClient.search, with its prefix_length and
 * max_expansions). A hit's document id is the post id (the content event's `id`; seeded posts have their
 * catalogue id): each hit is the published post or monograph with that id, of the hit's kind; a hit whose
 * post is no longer published (the index not yet past its `article.removed` event) or is of another kind
 * (a document that is not this post) is not served, and not counted.
 *
 * @return array{total: int, took_ms: int, fuzzy: bool, hits: list<array{0: \WP_Post, 1: ?float}>}
 */
function opensearch(string $url, string $q, int $size, float $deadline): array
{
    $fuzzy = false;
    $answer = search_request($url, ['multi_match' => ['query' => $q, 'fields' => ['title^3', 'summary^2', 'body'],
        'operator' => 'and']], $size, $deadline);
    $took = $answer['took'];
    if (!$answer['hits']['hits']) {
        $fuzzy = true;
        $answer = search_request($url, ['multi_match' => ['query' => $q, 'fields' => ['title^3', 'summary^2'],
            'fuzziness' => 'AUTO', 'prefix_length' => 1, 'max_expansions' => 10, 'operator' => 'and']], $size, $deadline);
        $took += $answer['took'];
    }
    $found = $answer['hits'];
    $posts = published_by_id(array_map(fn($h) => (int) ($h['_id'] ?? 0), $found['hits']));
    $hits = [];
    foreach ($found['hits'] as $hit) {
        $post = $posts[(int) ($hit['_id'] ?? 0)] ?? null;
        if ($post && kind_of($post->post_type) === ($hit['_source']['kind'] ?? null)) {
            $hits[] = [$post, isset($hit['_score']) ? (float) $hit['_score'] : null];
        }
    }
    $total = (int) ($found['total']['value'] ?? count($found['hits']));
    return ['total' => max(count($hits), $total - (count($found['hits']) - count($hits))), 'took_ms' => $took,
        'fuzzy' => $fuzzy, 'hits' => $hits];
}

/**
 * OpenSearch's answer from the first node that gives one within the budget, or null with $why set (every
 * node failed, was skipped as recently failed, or none is configured). Notes each node's outcome for the
 * replica's other workers.
 */
function opensearch_answer(string $q, int $size, ?string &$why = null): ?array
{
    $urls = search_urls();
    if (!$urls) {
        $why = 'OpenSearch is not configured';
        return null;
    }
    $deadline = microtime(true) + search_budget();
    $problems = [];
    foreach ($urls as $url) {
        $name = wp_parse_url($url, PHP_URL_HOST) . ':' . wp_parse_url($url, PHP_URL_PORT);
        $skipped = recently_failed($url);
        if ($skipped !== null) {
            $problems[] = "$name $skipped";
            continue;
        }
        try {
            $answer = opensearch($url, $q, $size, $deadline);
            mark_node($url, null);
            return $answer;
        } catch (\RuntimeException $err) {
            $problems[] = "$name " . $err->getMessage();
            if (strpos($err->getMessage(), 'not tried') === false) {
                mark_node($url, $err->getMessage());
            }
        }
    }
    $why = 'OpenSearch unavailable: ' . implode('; ', $problems);
    return null;
}

/** Published posts and monographs by id (one query, their meta primed), for search hits. */
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

function fallback_notice(string $why): string
{
    return "Search is running in fallback mode ($why): results come from WordPress's own database "
        . 'search, which matches words exactly and ranks them less well.';
}

/** WordPress's MySQL search: [posts, total, took_ms]. */
function mysql_posts(string $q, int $size): array
{
    $started = microtime(true);
    $query = new \WP_Query(['s' => $q, 'post_type' => CONTENT_TYPES, 'post_status' => 'publish',
        'posts_per_page' => $size]);
    return [$query->posts, (int) $query->found_posts, (int) round((microtime(true) - $started) * 1000)];
}

/** The front end's search (GET /wp-json/gameday/v1/search): see the top of this file. */
function search(string $q, int $size = 10): array
{
    $answer = opensearch_answer($q, $size, $why);
    if ($answer !== null) {
        return ['source' => 'opensearch', 'fuzzy' => $answer['fuzzy'], 'took_ms' => $answer['took_ms'],
            'items' => array_map(fn($hit) => item($hit[0]) + ['score' => $hit[1]], $answer['hits']),
            'total' => $answer['total']];
    }
    Degraded::$search = $why;
    [$posts, $total, $took] = mysql_posts($q, $size);
    return ['source' => 'mysql', 'fallback' => 'mysql', 'notice' => fallback_notice($why), 'total' => $total,
        'took_ms' => $took, 'items' => array_map(fn($post) => item($post), $posts)];
}

/**
 * The Python site's GET /api/search body (gameday.site.app.api_search): {q, total, took_ms, hits}, each hit
 * {id, score, kind, slug, title, category, summary, version, url}. On the MySQL fallback: the same keys
 * (score null) plus "degraded": "search", "fallback": "mysql" and "notice".
 */
function site_search(string $q, int $size): array
{
    $answer = opensearch_answer($q, $size, $why);
    if ($answer !== null) {
        return ['q' => $q, 'total' => $answer['total'], 'took_ms' => $answer['took_ms'],
            'hits' => array_map(fn($hit) => site_hit($hit[0], $hit[1]), $answer['hits'])];
    }
    Degraded::$search = $why;
    [$posts, $total, $took] = mysql_posts($q, $size);
    return ['q' => $q, 'total' => $total, 'took_ms' => $took,
        'hits' => array_map(fn($post) => site_hit($post, null), $posts),
        'degraded' => 'search', 'fallback' => 'mysql', 'notice' => fallback_notice($why)];
}

/**
 * The search page (GET /search?q=, WordPress's own `s` search rendered by the theme) answered from
 * OpenSearch, as ElasticPress does: the main search query's posts come from there; on the fallback
 * WordPress runs its own MySQL search and the page says so (wp_body_open) with `X-Gameday-Degraded`.
 */
function page_search_posts($posts, \WP_Query $query)
{
    if ($posts !== null || !$query->is_main_query() || !$query->is_search() || is_admin()) {
        return $posts;
    }
    $size = (int) ($query->get('posts_per_page') ?: 10);
    $answer = opensearch_answer((string) $query->get('s'), $size, $why);
    if ($answer === null) {
        Degraded::$search = $why;
        return null;  // WordPress's MySQL search answers
    }
    $query->found_posts = $answer['total'];
    $query->max_num_pages = (int) ceil($answer['total'] / max(1, $size));
    return array_map(fn($hit) => $hit[0], $answer['hits']);
}

function degraded_headers(): void
{
    if (Degraded::$search !== null && !headers_sent()) {
        header('X-Gameday-Degraded: search');
    }
}

function degraded_notice(): void
{
    if (Degraded::$search !== null) {
        echo '<div class="gameday-notice" role="status" data-degraded="search"><p>'
            . esc_html(fallback_notice(Degraded::$search)) . '</p></div>';
    }
}

add_filter('posts_pre_query', __NAMESPACE__ . '\\page_search_posts', 10, 2);
add_action('template_redirect', __NAMESPACE__ . '\\degraded_headers', 0);
add_action('wp_body_open', __NAMESPACE__ . '\\degraded_notice');
