<?php
// Basic php-memcached (libmemcached) API calls over the ascii protocol.
// Prints OK, or the first failed check and exits 1.
// Usage: php memcached_api.php <port> [binary]
function check($ok, $what) {
    global $m;
    if (!$ok) {
        fwrite(STDERR, "FAILED: $what (" . $m->getResultMessage() . ")\n");
        exit(1);
    }
}
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, ($argv[2] ?? '') === 'binary');
$m->setOption(Memcached::OPT_COMPRESSION, false);
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 5000);
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 5000000);
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 5000000);
check($m->addServer('127.0.0.1', (int)$argv[1]), 'addServer');

check($m->set('str', 'hello'), 'set');
check($m->get('str') === 'hello', 'get');
check($m->set('arr', ['a' => 1, 'b' => [2, 3]], 100), 'set array');
check($m->get('arr') === ['a' => 1, 'b' => [2, 3]], 'get array');
check($m->set('int', 42) && $m->get('int') === 42, 'int round trip');
check($m->set('float', 1.5) && $m->get('float') === 1.5, 'float round trip');
check($m->set('bool', true) && $m->get('bool') === true, 'bool round trip');
check($m->get('missing') === false && $m->getResultCode() === Memcached::RES_NOTFOUND,
      'miss is NOTFOUND');
// ascii answers NOT_STORED; binary answers "key exists" (RES_DATA_EXISTS).
check(!$m->add('str', 'x') && in_array($m->getResultCode(),
      [Memcached::RES_NOTSTORED, Memcached::RES_DATA_EXISTS], true), 'add existing');
check($m->add('new', 'x'), 'add new');
check(!$m->replace('missing', 'x'), 'replace missing');
check($m->replace('new', 'y') && $m->get('new') === 'y', 'replace');
check($m->append('str', ' world') && $m->prepend('str', '>'), 'append/prepend');
check($m->get('str') === '>hello world', 'append/prepend value');
check($m->set('n', 10), 'set counter');
check($m->increment('n', 5) === 15, 'increment');
check($m->decrement('n', 100) === 0, 'decrement clamps');
check($m->increment('missing') === false, 'increment missing');
$r = $m->get('str', null, Memcached::GET_EXTENDED);
check(is_array($r) && $r['value'] === '>hello world' && $r['cas'] > 0, 'get with cas');
check($m->cas($r['cas'], 'str', 'swapped'), 'cas');
check(!$m->cas($r['cas'], 'str', 'again') && $m->getResultCode() === Memcached::RES_DATA_EXISTS,
      'cas stale');
check($m->get('str') === 'swapped', 'cas value');
check($m->touch('str', 100), 'touch');
check(!$m->touch('missing', 100), 'touch missing');
check($m->setMulti(['m1' => 'a', 'm2' => 'b', 'm3' => 'c']), 'setMulti');
check($m->getMulti(['m1', 'm2', 'm3', 'missing']) === ['m1' => 'a', 'm2' => 'b', 'm3' => 'c'],
      'getMulti');
check($m->delete('m1') && !$m->delete('m1'), 'delete');
$stats = $m->getStats();
$s = reset($stats);
check(is_array($s) && $s['pid'] > 0 && $s['curr_items'] >= 1, 'getStats');
$versions = $m->getVersion();
check(is_array($versions) && preg_match('/^\d/', reset($versions)), 'getVersion');
check($m->flush(), 'flush');
check($m->get('new') === false, 'flushed');
echo "OK\n";
