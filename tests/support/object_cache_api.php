<?php
/*
 * Exercises the object-cache drop-in's API inside a twin's WordPress and prints what it saw as JSON
 * (tests/integration/test_object_cache.py). Run with php-cli, the twin's CLI environment, and
 * GAMEDAY_WP_CLI naming gameday/sandbox/wordpress/cli:  php object_cache_api.php write|read
 * "write" sets keys and checks each call's answer; "read" (a later process) sees what persisted.
 */
require getenv('GAMEDAY_WP_CLI') . '/load.php';

$g = 'gameday-test';
$seen = ['state' => $GLOBALS['wp_object_cache']->state(), 'external' => wp_using_ext_object_cache()];
wp_cache_add_non_persistent_groups(['gameday-local']);
if (($argv[1] ?? '') === 'write') {
    foreach (['k', 'n', 'obj', 'false', 'missing', 'nope'] as $key) {
        wp_cache_delete($key, $g);
    }
    $seen['add_new'] = wp_cache_add('k', ['a' => 1], $g);
    $seen['add_again'] = wp_cache_add('k', 'x', $g);
    $seen['get_forced'] = wp_cache_get('k', $g, true, $found);
    $seen['found'] = $found;
    $seen['replace'] = wp_cache_replace('k', 'v2', $g);
    $seen['replace_missing'] = wp_cache_replace('missing', 'v', $g);
    $seen['after_replace'] = wp_cache_get('k', $g, true);
    wp_cache_set('n', 5, $g);
    $seen['incr'] = wp_cache_incr('n', 3, $g);
    $seen['decr_floor'] = wp_cache_decr('n', 10, $g);
    $seen['incr_again'] = wp_cache_incr('n', 2, $g);
    $seen['incr_missing'] = wp_cache_incr('nope', 1, $g);
    $object = new stdClass();
    $object->v = 1;
    wp_cache_set('obj', $object, $g);
    $object->v = 2;
    $seen['own_copy'] = wp_cache_get('obj', $g)->v;
    wp_cache_set('false', false, $g);
    wp_cache_get('false', $g, true, $found);
    $seen['false_found'] = $found;
    wp_cache_set('local', 'here', 'gameday-local');
    $seen['local'] = wp_cache_get('local', 'gameday-local');
    wp_cache_set('gone', 'soon', $g);
    $seen['delete'] = wp_cache_delete('gone', $g);
    $seen['delete_again'] = wp_cache_delete('gone', $g);
} else {
    $seen['multi'] = wp_cache_get_multiple(['k', 'n', 'false', 'nope'], $g);
    $seen['obj'] = wp_cache_get('obj', $g)->v ?? null;
    $seen['local'] = wp_cache_get('local', 'gameday-local');
    $seen['gone'] = wp_cache_get('gone', $g);
}
echo json_encode($seen), "\n";
