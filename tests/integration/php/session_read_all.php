<?php
// A fresh PHP process reading sessions (test_php_failover.py): for every sid
// on the command line opens the session read-only and prints one JSON object
// {sid: $_SESSION['n'] (null when the session is empty or absent)} plus
// "_failed": the sids whose read failed twice, and "_retried": those that
// failed once. A fresh client's first request to a server that was dead may
// fail (CLIENTS.md section 2): a reader retries once.
// Warnings of a read that succeeded (a handler getting over a failure within
// the request) are not failures. Handler and servers come from -d options.
// Usage: php session_read_all.php <sid>...
$messages = [];
set_error_handler(function ($no, $str) use (&$messages) {
    if ($no & (E_DEPRECATED | E_USER_DEPRECATED)) {
        return false;
    }
    $messages[] = $str;
    return true;
});
$out = ['_failed' => [], '_retried' => []];
foreach (array_slice($argv, 1) as $sid) {
    for ($try = 0; $try < 2; $try++) {
        $messages = [];
        session_id($sid);
        if (session_start(['read_and_close' => true])) {
            $out[$sid] = $_SESSION['n'] ?? null;
            break;
        }
        if (session_status() == PHP_SESSION_ACTIVE) {
            session_abort();
        }
        $out[$try ? '_failed' : '_retried'][] = [$sid, $messages];
        $_SESSION = [];
    }
}
echo json_encode($out), "\n";
