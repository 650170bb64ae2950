<?php
/*
 * The content types the site publishes: guidance articles are WordPress posts, medicine monographs the
 * `monograph` custom post type (permalinks /monographs/<slug>/), both filed in categories.
 */
namespace Gameday;

const MONOGRAPH = 'monograph';
const CONTENT_TYPES = ['post', MONOGRAPH];

/** The catalogue's kind of a post type: 'guidance' (posts) or 'monograph'. */
function kind_of(string $post_type): string
{
    return $post_type === MONOGRAPH ? 'monograph' : 'guidance';
}

function register_content_types(): void
{
    register_post_type(MONOGRAPH, [
        'label' => 'Monographs',
        'labels' => ['name' => 'Monographs', 'singular_name' => 'Monograph'],
        'public' => true,
        'has_archive' => 'monographs',
        'rewrite' => ['slug' => 'monographs', 'with_front' => false],
        'show_in_rest' => true,
        'supports' => ['title', 'editor', 'excerpt', 'custom-fields', 'revisions'],
        'taxonomies' => ['category'],
    ]);
}

add_action('init', __NAMESPACE__ . '\\register_content_types', 0);
