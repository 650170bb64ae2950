<?php
/*
 * gameday's object cache: WordPress's persistent object cache on Redis (php-redis), written for the twin.
 *
 * Installed into the twin's WP_CONTENT_DIR by gameday.sandbox.members.wordpress.prepare when the twin has
 * a cache member (gameday.sandbox.members.redis_cache). Redis is at GAMEDAY_REDIS_ADDR (host:port, from
 * wp-config.php); its password comes from the environment (GAMEDAY_REDIS_PASSWORD, which php-fpm's pool
 * passes on from the supervisor, which reads it from the twin's 0600 secret file). Never in a file here.
 *
 * Every value read or written is also kept in this request's memory ($cache), so a key is fetched from
 * Redis at most once per request. Non-persistent groups stay in memory only. Keys are
 * "<WP_CACHE_KEY_SALT><blog>:<group>:<key>" (global groups without the blog). Values are PHP-serialized,
 * except integers, stored as Redis integers so that incr/decr are Redis's own atomic INCRBY.
 *
 * When Redis cannot be reached (or fails mid-request), the request carries on with its in-memory cache:
 * state() says 'fallback', the mu-plugin sends it as X-Gameday-Object-Cache, and one error_log line per
 * request says why. Never a fatal error: the database serves what the cache would have.
 */

class WP_Object_Cache
{
    public $cache = [];          // this request's copy: group => key => value
    public $cache_hits = 0;
    public $cache_misses = 0;
    private $redis = null;       // a connected \Redis, or null (the fallback: memory only)
    private $state = 'fallback';
    private $global_groups = [];
    private $non_persistent_groups = [];
    private $blog_prefix = '1:';
    private $salt;
    private $logged = false;     // the fallback's one error_log line of this request was written

    public function __construct()
    {
        $this->salt = defined('WP_CACHE_KEY_SALT') ? WP_CACHE_KEY_SALT : '';
        $addr = defined('GAMEDAY_REDIS_ADDR') ? GAMEDAY_REDIS_ADDR : '';
        if (!class_exists('Redis')) {
            $this->fail('the php-redis extension is not loaded');
            return;
        }
        if ($addr === '') {
            $this->fail('GAMEDAY_REDIS_ADDR is not set');
            return;
        }
        [$host, $port] = array_pad(explode(':', $addr, 2), 2, '6379');
        try {
            $redis = new Redis();
            if (!$redis->connect($host, (int) $port, 0.5, null, 0, 1.0)) {
                throw new RedisException('connect failed');
            }
            $password = getenv('GAMEDAY_REDIS_PASSWORD');
            if ($password !== false && $password !== '' && !$redis->auth($password)) {
                throw new RedisException('AUTH refused');
            }
            $this->redis = $redis;
            $this->state = 'redis';
        } catch (RedisException $e) {
            $this->fail("Redis at $addr unreachable: " . $e->getMessage());
        }
    }

    /** 'redis' (every persistent read and write reached Redis so far) or 'fallback' (memory only). */
    public function state(): string
    {
        return $this->state;
    }

    /** Stop using Redis for the rest of this request, saying why once (error_log; no secret in it). */
    private function fail(string $why): void
    {
        if ($this->redis !== null) {
            try {
                $this->redis->close();
            } catch (RedisException $e) {
                // the connection is broken already: the first error is the one worth logging
            }
        }
        $this->redis = null;
        $this->state = 'fallback';
        if (!$this->logged) {
            $this->logged = true;
            error_log("gameday object cache: $why; this request uses an in-memory cache only");
        }
    }

    private function persistent(string $group): bool
    {
        return $this->redis !== null && !isset($this->non_persistent_groups[$group]);
    }

    private function key($key, string $group): string
    {
        $blog = isset($this->global_groups[$group]) ? '' : $this->blog_prefix;
        return "{$this->salt}{$blog}{$group}:{$key}";
    }

    private static function encode($value): string
    {
        return is_int($value) ? (string) $value : serialize($value);
    }

    private static function decode(string $raw)
    {
        return preg_match('/^-?\d+$/', $raw) ? (int) $raw : unserialize($raw);
    }

    private static function copy($value)
    {
        return is_object($value) ? clone $value : $value;
    }

    /** Run one Redis call; on a Redis error fall back for the rest of the request and return $else. */
    private function call(callable $fn, $else = false)
    {
        try {
            return $fn($this->redis);
        } catch (RedisException $e) {
            $this->fail('Redis failed mid-request: ' . $e->getMessage());
            return $else;
        }
    }

    private function store($key, $data, string $group, int $expire, array $options): bool
    {
        if ($this->persistent($group)) {
            if ($expire > 0) {
                $options['ex'] = $expire;
            }
            $raw = self::encode($data);
            $ok = $this->call(fn($r) => $options ? $r->set($this->key($key, $group), $raw, $options)
                : $r->set($this->key($key, $group), $raw));
            if (!$ok && $this->redis !== null) {
                return false;  // Redis said no (add: the key exists; replace: it does not)
            }
        }
        $this->cache[$group][$key] = self::copy($data);
        return true;
    }

    public function set($key, $data, $group = 'default', $expire = 0)
    {
        return $this->store($key, $data, $group ?: 'default', (int) $expire, []);
    }

    public function add($key, $data, $group = 'default', $expire = 0)
    {
        $group = $group ?: 'default';
        if (wp_suspend_cache_addition() || $this->exists($key, $group)) {
            return false;
        }
        return $this->store($key, $data, $group, (int) $expire, ['nx']);
    }

    public function replace($key, $data, $group = 'default', $expire = 0)
    {
        $group = $group ?: 'default';
        if (!$this->exists($key, $group)) {
            return false;
        }
        return $this->store($key, $data, $group, (int) $expire, ['xx']);
    }

    private function exists($key, string $group): bool
    {
        $found = false;
        $this->get($key, $group, false, $found);
        return $found;
    }

    /** Whether to answer from this request's memory: held there, and not forced to ask Redis (without
     * Redis, as in WordPress's own cache, a forced read is answered from memory too). */
    private function cached($key, string $group, bool $force): bool
    {
        return isset($this->cache[$group]) && array_key_exists($key, $this->cache[$group])
            && !($force && $this->persistent($group));
    }

    public function get($key, $group = 'default', $force = false, &$found = null)
    {
        $group = $group ?: 'default';
        $force = (bool) $force;
        if ($this->cached($key, $group, $force)) {
            $found = true;
            $this->cache_hits++;
            return self::copy($this->cache[$group][$key]);
        }
        if ($this->persistent($group)) {
            $raw = $this->call(fn($r) => $r->get($this->key($key, $group)));
            if (is_string($raw)) {
                $found = true;
                $this->cache_hits++;
                $this->cache[$group][$key] = self::decode($raw);
                return self::copy($this->cache[$group][$key]);
            }
        }
        $found = false;
        $this->cache_misses++;
        return false;
    }

    public function get_multiple($keys, $group = 'default', $force = false)
    {
        $group = $group ?: 'default';
        $force = (bool) $force;
        $values = [];
        $missing = [];
        foreach ($keys as $key) {
            if ($this->cached($key, $group, $force)) {
                $values[$key] = self::copy($this->cache[$group][$key]);
                $this->cache_hits++;
            } else {
                $missing[] = $key;
            }
        }
        if ($missing && $this->persistent($group)) {
            $raws = $this->call(fn($r) => $r->mGet(array_map(fn($k) => $this->key($k, $group), $missing)), []);
            foreach ($missing as $i => $key) {
                if (isset($raws[$i]) && is_string($raws[$i])) {
                    $this->cache[$group][$key] = self::decode($raws[$i]);
                    $values[$key] = self::copy($this->cache[$group][$key]);
                    $this->cache_hits++;
                }
            }
        }
        $result = [];
        foreach ($keys as $key) {
            if (!array_key_exists($key, $values)) {
                $this->cache_misses++;
            }
            $result[$key] = $values[$key] ?? false;
        }
        return $result;
    }

    public function delete($key, $group = 'default')
    {
        $group = $group ?: 'default';
        $had = isset($this->cache[$group]) && array_key_exists($key, $this->cache[$group]);
        unset($this->cache[$group][$key]);
        if ($this->persistent($group)) {
            $had = $this->call(fn($r) => $r->del($this->key($key, $group)), 0) > 0 || $had;
        }
        return $had;
    }

    public function incr($key, $offset = 1, $group = 'default')
    {
        $group = $group ?: 'default';
        if (!$this->exists($key, $group)) {
            return false;
        }
        $value = $this->cache[$group][$key];
        if ($this->persistent($group) && is_int($value)) {
            $new = $this->call(fn($r) => $r->incrBy($this->key($key, $group), (int) $offset));
            if (is_int($new)) {
                if ($new < 0) {
                    $this->call(fn($r) => $r->set($this->key($key, $group), '0'));
                    $new = 0;
                }
                return $this->cache[$group][$key] = $new;
            }
        }
        $new = max(0, (is_numeric($value) ? (int) $value : 0) + (int) $offset);
        $this->set($key, $new, $group);
        return $new;
    }

    public function decr($key, $offset = 1, $group = 'default')
    {
        return $this->incr($key, -(int) $offset, $group);
    }

    /** Empty this request's memory and the twin's Redis database (the twin's Redis is its own). */
    public function flush()
    {
        $this->cache = [];
        return $this->redis === null ? true : (bool) $this->call(fn($r) => $r->flushDB(), false);
    }

    public function flush_runtime()
    {
        $this->cache = [];
        return true;
    }

    public function add_global_groups($groups)
    {
        foreach ((array) $groups as $group) {
            $this->global_groups[$group] = true;
        }
    }

    public function add_non_persistent_groups($groups)
    {
        foreach ((array) $groups as $group) {
            $this->non_persistent_groups[$group] = true;
        }
    }

    public function switch_to_blog($blog_id)
    {
        $this->blog_prefix = ((int) $blog_id) . ':';
    }

    public function close()
    {
        if ($this->redis !== null) {
            $this->call(fn($r) => $r->close());
        }
        return true;
    }

    public function stats()
    {
        echo '<p>gameday object cache: ', esc_html($this->state), ", {$this->cache_hits} hits, {$this->cache_misses} misses</p>";
    }
}

function wp_cache_init()
{
    $GLOBALS['wp_object_cache'] = new WP_Object_Cache();
}

function wp_cache_add($key, $data, $group = '', $expire = 0)
{
    return $GLOBALS['wp_object_cache']->add($key, $data, $group, (int) $expire);
}

function wp_cache_replace($key, $data, $group = '', $expire = 0)
{
    return $GLOBALS['wp_object_cache']->replace($key, $data, $group, (int) $expire);
}

function wp_cache_set($key, $data, $group = '', $expire = 0)
{
    return $GLOBALS['wp_object_cache']->set($key, $data, $group, (int) $expire);
}

function wp_cache_get($key, $group = '', $force = false, &$found = null)
{
    return $GLOBALS['wp_object_cache']->get($key, $group, $force, $found);
}

function wp_cache_get_multiple($keys, $group = '', $force = false)
{
    return $GLOBALS['wp_object_cache']->get_multiple($keys, $group, $force);
}

function wp_cache_delete($key, $group = '')
{
    return $GLOBALS['wp_object_cache']->delete($key, $group);
}

function wp_cache_incr($key, $offset = 1, $group = '')
{
    return $GLOBALS['wp_object_cache']->incr($key, $offset, $group);
}

function wp_cache_decr($key, $offset = 1, $group = '')
{
    return $GLOBALS['wp_object_cache']->decr($key, $offset, $group);
}

function wp_cache_flush()
{
    return $GLOBALS['wp_object_cache']->flush();
}

function wp_cache_flush_runtime()
{
    return $GLOBALS['wp_object_cache']->flush_runtime();
}

function wp_cache_supports($feature)
{
    return in_array($feature, ['get_multiple', 'flush_runtime'], true);
}

function wp_cache_close()
{
    return $GLOBALS['wp_object_cache']->close();
}

function wp_cache_add_global_groups($groups)
{
    $GLOBALS['wp_object_cache']->add_global_groups($groups);
}

function wp_cache_add_non_persistent_groups($groups)
{
    $GLOBALS['wp_object_cache']->add_non_persistent_groups($groups);
}

function wp_cache_switch_to_blog($blog_id)
{
    $GLOBALS['wp_object_cache']->switch_to_blog($blog_id);
}

function wp_cache_reset()
{
    _deprecated_function(__FUNCTION__, '3.5.0', 'wp_cache_switch_to_blog()');
}
