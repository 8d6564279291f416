<?php
// Where the real PHP clients put keys, for test_placement.py. Keys come on stdin,
// one a line; SERVERS is "host:port,host:port,..." in the members file's order.
//   placement.php memcached ketama|ketama-weighted SERVERS  -> "key host:port" lines
//       (getServerByKey with the distribution php-memcached's session handler sets)
//   placement.php memcache-set SERVERS                      -> stores every key
//   placement.php sessions SAVE_PATH                        -> one session per key (as sid)
[$self, $mode, $arg] = array_pad($argv, 4, null);
$kind = $argv[2] ?? null;
$keys = array_values(array_filter(array_map('rtrim', file('php://stdin')), 'strlen'));

function servers(string $list): array {
    return array_map(fn($hp) => explode(':', $hp), explode(',', $list));
}

if ($mode === 'memcached') {
    $m = new Memcached();
    // php_memcached_session.c sets MEMCACHED_BEHAVIOR_KETAMA (3) for "ketama" and
    // MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (= OPT_LIBKETAMA_COMPATIBLE) for "ketama_weighted".
    if ($kind === 'ketama') {
        $m->setOption(3, 1);
    } else {
        $m->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);
    }
    $m->addServers(array_map(fn($s) => [$s[0], (int)$s[1]], servers($argv[3])));
    $out = '';
    foreach ($keys as $k) {
        $s = $m->getServerByKey($k);
        $out .= $k . ' ' . $s['host'] . ':' . $s['port'] . "\n";
    }
    echo $out;
} elseif ($mode === 'memcache-set') {
    $m = new Memcache();
    foreach (servers($argv[2]) as $s) $m->addServer($s[0], (int)$s[1]);
    foreach ($keys as $k) $m->set($k, '1', 0, 600);
    echo "stored ", count($keys), "\n";
} elseif ($mode === 'sessions') {
    foreach ($keys as $sid) {
        session_id($sid);
        session_start();
        $_SESSION['n'] = 1;
        session_write_close();
    }
    echo "sessions ", count($keys), "\n";
}
