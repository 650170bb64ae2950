<?php
/*
 * The Python sample site's URLs and API (gameday.site.app: its docstring and routes are the contract), so
 * that the WordPress replicas can take its place behind the load balancer with the load generator, the SLO
 * probes, the canaries and the playbooks unchanged:
 *
 *   GET  /guidance/<slug>     a guidance post, rendered by the theme (WordPress's own permalink
 *                             /<category>/<slug>/ keeps working)
 *   GET  /medicines/<slug>    a monograph (and /monographs/<slug>/)
 *   GET  /category/<slug>     a category's posts and monographs
 *   GET  /                    the latest 20 posts and monographs
 *   GET  /search?q=           OpenSearch's answer (search.php), WordPress's MySQL search on the fallback
 *   GET  /api/articles/<id>   {id, kind, slug, title, category, summary, body, version, updated_at, url}
 *   GET  /api/search?q=&size= {q, total, took_ms, hits: [{id, score, kind, slug, title, category, summary,
 *                             version, url}]} (search.php's site_search)
 *   POST /api/articles        publish (no id) or update (id): {id, version, slug, url, event}: 201
 *                             "acknowledged" once the relay sent the event, else 202 "pending" (below)
 *
 * Each page answers without a trailing slash and without a redirect (the load generator counts every
 * request; WordPress's canonical redirect would add a round trip to each): WordPress's canonical redirect is
 * off for these paths only. With the slash they answer too.
 *
 * The API answers as the Python site does, JSON errors {"error": "..."} included (400 for a bad request,
 * 404 for an unknown article or API path). It is served by WordPress's REST server (the rewrite rule
 * ^api/ -> rest_route=/gameday/site/...), so it also answers under /wp-json/gameday/site/.
 *
 * Publishing needs an editor: HTTP basic auth with a WordPress Application Password (the twin's `publisher`
 * user, made by the bootstrap from secrets/wordpress-publisher.env): 401 {"error"} without or with a wrong
 * one, 403 for a user who may not publish. The Python site asks for none; its clients must send it now
 * (README, "WordPress member"). Application Passwords want HTTPS (WordPress allows them only on is_ssl()):
 * the platform terminates TLS at its edge and the twin's load balancer speaks HTTP on loopback, so they are
 * allowed here on every request (gameday_application_passwords).
 *
 * The event: the post and its outbox row are written in one transaction (outbox.php); the Java relay sends
 * the row to Kafka and marks it sent once Kafka acknowledged it. After the commit a publish waits up to
 * GAMEDAY_PUBLISH_ACK_WAIT seconds (wp-config.php, 5 by default), polling the row every 0.1 s: 201 with
 * "event": "acknowledged" when the relay marked it, else 202 "pending" (the relay stopped or behind, Kafka
 * refusing: the event stays in the outbox and is sent later). The Python site's meaning: 201 once Kafka
 * acknowledged, 202 after its 5 s. A php-fpm worker is held for the wait (about the relay's poll, 0.5 s, when
 * all is well). The version is the post's `_gameday_version`, the event's version.
 */
namespace Gameday;

const REWRITE_VERSION = 2;  // bump when the rules below change: a replica flushes WordPress's rules once
const MAX_QUERY = 200;
const FIELD_LIMITS = ['title' => 255, 'category' => 64, 'summary' => 2000, 'body' => 200000];
const KIND_PATHS = ['guidance' => 'guidance', 'monograph' => 'medicines'];
const API_NAMESPACE = 'gameday/site';
const PUBLISH_ACK_WAIT = 5.0;  // seconds, unless wp-config.php's GAMEDAY_PUBLISH_ACK_WAIT says otherwise
const ACK_POLL_S = 0.1;

/** The contract's path of a post: /guidance/<slug> or /medicines/<slug>. */
function site_url_of(\WP_Post $post): string
{
    return '/' . KIND_PATHS[kind_of($post->post_type)] . '/' . $post->post_name;
}

function version_of(int $post_id): int
{
    return (int) get_post_meta($post_id, VERSION_KEY, true);
}

function category_of(\WP_Post $post): ?string
{
    $categories = get_the_category($post->ID);
    return $categories ? $categories[0]->name : null;
}

/** A search hit as the Python site has it (raw fields: the API's readers escape them). */
function site_hit(\WP_Post $post, ?float $score): array
{
    return ['id' => $post->ID, 'score' => $score, 'kind' => kind_of($post->post_type), 'slug' => $post->post_name,
        'title' => $post->post_title, 'category' => category_of($post), 'summary' => $post->post_excerpt,
        'version' => version_of($post->ID), 'url' => site_url_of($post)];
}

/** GET /api/articles/<id>'s body, as the Python site's (gameday.site.app._json_article). */
function site_article(\WP_Post $post): array
{
    return ['id' => $post->ID, 'kind' => kind_of($post->post_type), 'slug' => $post->post_name,
        'title' => $post->post_title, 'category' => category_of($post), 'summary' => $post->post_excerpt,
        'body' => $post->post_content, 'version' => version_of($post->ID),
        'updated_at' => str_replace(' ', 'T', $post->post_modified_gmt), 'url' => site_url_of($post)];
}

// ---- pages -------------------------------------------------------------------------------------------

function add_site_rules(): void
{
    add_rewrite_rule('^guidance/([^/]+)/?$', 'index.php?post_type=post&name=$matches[1]', 'top');
    add_rewrite_rule('^medicines/([^/]+)/?$', 'index.php?' . MONOGRAPH . '=$matches[1]', 'top');
    add_rewrite_rule('^search/?$', 'index.php?gameday_search=1', 'top');
    add_rewrite_rule('^api/(.*)$', 'index.php?rest_route=/' . API_NAMESPACE . '/$matches[1]', 'top');
    // /category/<slug> is WordPress's own category archive (category base `category`)
    if ((int) get_option('gameday_rewrite_version') !== REWRITE_VERSION && !wp_installing()) {
        flush_rewrite_rules(false);  // once per version, for a twin whose rules were flushed before these
        update_option('gameday_rewrite_version', REWRITE_VERSION, true);
    }
}

function query_vars(array $vars): array
{
    $vars[] = 'gameday_search';
    return $vars;
}

/** /search?q=... is WordPress's search (`s`), the query trimmed and cut as the Python site does. */
function search_request_vars(array $vars): array
{
    if (!empty($vars['gameday_search'])) {
        unset($vars['gameday_search']);
        $vars['s'] = mb_substr(trim((string) ($_GET['q'] ?? '')), 0, MAX_QUERY);
    }
    return $vars;
}

/** The home page, category archives and search list guidance and monographs alike, 20 on the home page. */
function main_query_types(\WP_Query $query): void
{
    if (is_admin() || !$query->is_main_query()) {
        return;
    }
    if ($query->is_home() || $query->is_category() || $query->is_search()) {
        $query->set('post_type', CONTENT_TYPES);
    }
    if ($query->is_home()) {
        $query->set('posts_per_page', 20);
    }
}

/**
 * No canonical redirect for the contract's pages (each request answers at once: see the top), whatever
 * Host the request names: the load balancer's, a replica's own address (a probe), the CDN's. WordPress
 * would otherwise send `/` and the rest to its home address's host with a 301.
 */
function keep_contract_paths($redirect_url, $requested_url)
{
    $path = (string) parse_url((string) $requested_url, PHP_URL_PATH);
    if (preg_match('#^/(guidance|medicines|category)/[^/]+/?$#', $path) || preg_match('#^/(search/?)?$#', $path)) {
        return false;
    }
    return $redirect_url;
}

// ---- API ---------------------------------------------------------------------------------------------

function api_error(int $status, string $message): \WP_REST_Response
{
    return new \WP_REST_Response(['error' => $message], $status);
}

function api_article(\WP_REST_Request $request): \WP_REST_Response
{
    $id = (int) $request['id'];
    $post = get_post($id);
    if (!$post || $post->post_status !== 'publish' || !in_array($post->post_type, CONTENT_TYPES, true)) {
        return api_error(404, "article $id not found");
    }
    return new \WP_REST_Response(site_article($post));
}

function api_site_search(\WP_REST_Request $request): \WP_REST_Response
{
    $q = mb_substr(trim((string) ($request->get_param('q') ?? '')), 0, MAX_QUERY);
    if ($q === '') {
        return api_error(400, 'missing query parameter q');
    }
    $raw = $request->get_param('size');
    $size = is_scalar($raw) && preg_match('/^\s*[+-]?\d+\s*$/', (string) $raw) ? (int) $raw : 10;
    $size = min(max($size ?: 10, 1), 50);  // the Python site: size or 10, then 1..50
    $response = new \WP_REST_Response(site_search($q, $size));
    if (Degraded::$search !== null) {
        $response->header('X-Gameday-Degraded', 'search');
    }
    return $response;
}

/** The Python site's checks (gameday.site.app._validate), in its order and with its messages. */
function validate_publish($payload)
{
    if (!is_object($payload)) {
        return 'expected a JSON object with kind, title, category, summary, body (and optional id)';
    }
    $payload = (array) $payload;
    $kind = $payload['kind'] ?? null;
    if (!is_string($kind) || !isset(KIND_PATHS[$kind])) {
        return "kind must be 'guidance' or 'monograph'";
    }
    $fields = ['kind' => $kind];
    foreach (FIELD_LIMITS as $name => $limit) {
        $value = $payload[$name] ?? null;
        if (!is_string($value) || trim($value) === '') {
            return "$name must be a non-empty string";
        }
        if (mb_strlen($value) > $limit) {
            return "$name is longer than $limit characters";
        }
        $fields[$name] = $name === 'body' ? $value : trim($value);
    }
    $id = $payload['id'] ?? null;
    if ($id !== null && (!is_int($id) || $id < 1)) {
        return 'id must be a positive integer when given';
    }
    $fields['id'] = $id;
    return $fields;
}

/** The publisher: HTTP basic auth with an Application Password of a user who may publish, or an error. */
function publisher()
{
    $user_name = $_SERVER['PHP_AUTH_USER'] ?? null;
    $password = $_SERVER['PHP_AUTH_PW'] ?? null;
    if (!is_string($user_name) || !is_string($password) || $user_name === '') {
        return api_error(401, 'authentication required: HTTP basic auth with an editor\'s application password');
    }
    $user = wp_authenticate_application_password(null, $user_name, $password);
    if (!$user instanceof \WP_User) {
        return api_error(401, 'authentication failed');
    }
    if (!user_can($user, 'publish_posts') || !user_can($user, 'edit_others_posts')) {
        return api_error(403, "user $user_name may not publish");
    }
    return $user;
}

function category_id(string $name): int
{
    $term = term_exists($name, 'category');
    if (!$term) {
        $term = wp_insert_term($name, 'category');
        if (is_wp_error($term)) {  // made meanwhile by another request
            $term = term_exists($name, 'category');
        }
    }
    if (!$term || is_wp_error($term)) {
        throw new OutboxError("category $name could not be made");
    }
    return (int) $term['term_id'];
}

function api_publish(\WP_REST_Request $request): \WP_REST_Response
{
    $user = publisher();
    if ($user instanceof \WP_REST_Response) {
        return $user;
    }
    $fields = validate_publish(json_decode((string) $request->get_body()));
    if (is_string($fields)) {
        return api_error(400, $fields);
    }
    wp_set_current_user($user->ID);
    $post = [
        'post_type' => $fields['kind'] === 'monograph' ? MONOGRAPH : 'post',
        'post_status' => 'publish',
        'post_title' => wp_slash($fields['title']),
        'post_excerpt' => wp_slash($fields['summary']),
        'post_content' => wp_slash($fields['body']),
    ];
    Outbox::$last_event = '';
    try {
        $post['post_category'] = [category_id($fields['category'])];
        if ($fields['id'] !== null) {
            $existing = get_post($fields['id']);
            if (!$existing || !in_array($existing->post_type, CONTENT_TYPES, true)) {
                return api_error(404, "article {$fields['id']} does not exist");
            }
            $post['ID'] = $existing->ID;
            $id = wp_update_post($post, true);
        } else {
            $id = wp_insert_post($post + ['post_author' => $user->ID], true);
        }
    } catch (OutboxError $err) {
        return degraded_db_response('the article and its event were not saved: ' . $err->getMessage());
    }
    if (is_wp_error($id)) {
        return degraded_db_response('the article was not saved: ' . $id->get_error_message());
    }
    clean_post_cache($id);
    $saved = get_post($id);
    $acknowledged = Outbox::$last_event !== '' && relayed_within(Outbox::$last_event, publish_ack_wait(), ACK_POLL_S);
    return new \WP_REST_Response(['id' => $saved->ID, 'version' => version_of($saved->ID), 'slug' => $saved->post_name,
        'url' => site_url_of($saved), 'event' => $acknowledged ? 'acknowledged' : 'pending'], $acknowledged ? 201 : 202);
}

/** How long a publish waits for the relay's mark (GAMEDAY_PUBLISH_ACK_WAIT, else PUBLISH_ACK_WAIT), 0..8 s. */
function publish_ack_wait(): float
{
    $wait = defined('GAMEDAY_PUBLISH_ACK_WAIT') ? (float) GAMEDAY_PUBLISH_ACK_WAIT : PUBLISH_ACK_WAIT;
    return min(max($wait, 0.0), 8.0);
}

/** A write the database refused or lost: 503 as the Python site's degraded mode (db). */
function degraded_db_response(string $why): \WP_REST_Response
{
    error_log("gameday: publish failed: $why");
    $response = new \WP_REST_Response(['error' => 'The content database is temporarily unavailable. Please try again '
        . 'in a moment.', 'degraded' => 'db'], 503);
    $response->header('X-Gameday-Degraded', 'db');
    $response->header('Retry-After', '2');
    return $response;
}

function api_not_found(): \WP_REST_Response
{
    return api_error(404, 'not found');
}

function register_site_api(): void
{
    $open = ['permission_callback' => '__return_true'];  // publishing checks its own auth (publisher())
    register_rest_route(API_NAMESPACE, '/articles/(?P<id>\d+)', $open + ['methods' => 'GET',
        'callback' => __NAMESPACE__ . '\\api_article']);
    register_rest_route(API_NAMESPACE, '/articles', $open + ['methods' => 'POST',
        'callback' => __NAMESPACE__ . '\\api_publish']);
    register_rest_route(API_NAMESPACE, '/search', $open + ['methods' => 'GET',
        'callback' => __NAMESPACE__ . '\\api_site_search']);
    register_rest_route(API_NAMESPACE, '/(?P<anything>.*)', $open + ['methods' => \WP_REST_Server::ALLMETHODS,
        'callback' => __NAMESPACE__ . '\\api_not_found']);  // last: an unknown API path is the site's 404
}

/**
 * WordPress's own errors on the site API in the site's shape: a body WordPress could not parse as JSON
 * (refused before the route's callback) is the publish's "expected a JSON object" 400; any other error
 * ({code, message, data}) becomes {"error": message} with its status.
 */
function site_errors($response, $server, \WP_REST_Request $request)
{
    if (!$response instanceof \WP_REST_Response || strpos($request->get_route(), '/' . API_NAMESPACE . '/') !== 0) {
        return $response;
    }
    $data = $response->get_data();
    if (!is_array($data) || !isset($data['code'], $data['message']) || isset($data['error'])) {
        return $response;
    }
    $message = $data['code'] === 'rest_invalid_json'
        ? 'expected a JSON object with kind, title, category, summary, body (and optional id)' : (string) $data['message'];
    $response->set_data(['error' => $message]);
    return $response;
}

/** Application Passwords on this HTTP twin (see the top). */
function application_passwords_available(): bool
{
    return true;
}

add_action('init', __NAMESPACE__ . '\\add_site_rules', 20);
add_filter('query_vars', __NAMESPACE__ . '\\query_vars');
add_filter('request', __NAMESPACE__ . '\\search_request_vars');
add_action('pre_get_posts', __NAMESPACE__ . '\\main_query_types');
add_filter('redirect_canonical', __NAMESPACE__ . '\\keep_contract_paths', 10, 2);
add_action('rest_api_init', __NAMESPACE__ . '\\register_site_api');
add_filter('rest_post_dispatch', __NAMESPACE__ . '\\site_errors', 10, 3);
add_filter('wp_is_application_passwords_available', __NAMESPACE__ . '\\application_passwords_available');
