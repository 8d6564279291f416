<?php
// Basic pecl memcache API calls (ascii protocol).
// Prints OK, or the first failed check and exits 1.
// Usage: php memcache_api.php <port>
function check($ok, $what) {
    if (!$ok) {
        fwrite(STDERR, "FAILED: $what\n");
        exit(1);
    }
}
$m = new Memcache();
check($m->connect('127.0.0.1', (int)$argv[1], 5), 'connect');

check($m->set('str', 'hello', 0, 0), 'set');
check($m->get('str') === 'hello', 'get');
check($m->set('arr', ['a' => 1, 'b' => [2, 3]], 0, 100), 'set array');
check($m->get('arr') === ['a' => 1, 'b' => [2, 3]], 'get array');
check($m->get('missing') === false, 'miss');
check(!$m->add('str', 'x'), 'add existing');
check($m->add('new', 'x'), 'add new');
check(!$m->replace('missing', 'x'), 'replace missing');
check($m->replace('new', 'y') && $m->get('new') === 'y', 'replace');
check($m->append('str', ' world') && $m->prepend('str', '>'), 'append/prepend');
check($m->get('str') === '>hello world', 'append/prepend value');
check($m->set('n', '10'), 'set counter');
check($m->increment('n', 5) === 15, 'increment');
check($m->decrement('n', 100) === 0, 'decrement clamps');
check($m->increment('missing') === false, 'increment missing');
$flags = null;
$cas = null;
check($m->get('str', $flags, $cas) === '>hello world' && $cas > 0, 'get with cas');
check($m->cas('str', 'swapped', 0, 0, $cas), 'cas');
check(!$m->cas('str', 'again', 0, 0, $cas), 'cas stale');
check($m->get('str') === 'swapped', 'cas value');
check($m->get(['str', 'new', 'missing']) === ['str' => 'swapped', 'new' => 'y'], 'multi get');
check($m->delete('new') && !$m->delete('new'), 'delete');
$s = $m->getStats();
check(is_array($s) && $s['pid'] > 0, 'getStats');
check(preg_match('/^\d/', $m->getVersion()) === 1, 'getVersion');
check($m->flush(), 'flush');
check($m->get('str') === false, 'flushed');
echo "OK\n";
