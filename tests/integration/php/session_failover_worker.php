<?php
// One user of test_php_failover.py: request after request, opens session
// <sid> (with the handler's locking), adds 1 to $_SESSION['n'] and closes it,
// as a web request would, until told to stop or <max-seconds> have passed.
// Handler, servers and locking come from -d options (the examples/php/*.ini
// files).
//
// A request fails when session_start() returns false (the handler could not
// lock or read the session), or when its write fails: session_write_close()
// returns true even then, so PHP's warning "Failed to write session data"
// counts too. Handlers also warn about failures they got over within the
// request (php-memcached retrying on another server): such requests are
// acknowledged, and listed in `warned`. (pecl memcache reads an empty session,
// without any warning, when it reaches no server: the test sees that as a read
// going back.)
//
// Usage: php session_failover_worker.php <sid> <pause-ms> <max-seconds>
//            [<last> <last-ack-at> <last-sent-at> <max-written>]
//   last..: carried over from an earlier worker of the same user (a user the
//           load balancer moved to another web server)
// Prints "started" once its first request is done. Commands on stdin, one a
// line, read between requests:
//   hold    the next request, once session_start() returned (holding the
//           lock), prints "locked <the results so far>" and waits for a line
//           before it writes (the test may kill it meanwhile: a request lost
//           with its web server)
//   stop    (or end of input) finish and print the results
// The results, one JSON line:
//   acks         requests acknowledged
//   last         the value of the last acknowledged write, last_ack_at its time,
//                last_sent_at when that write was begun
//   max_written  the highest value this user ever tried to write
//   failures     [time begun, time ended, "read"|"write", [count, first, last
//                message, gave up waiting for the lock]] per failed request
//   regressions  [request, value read, last acknowledged, time of that
//                acknowledgement, time of the read, time that write was begun]
//                whenever a read returned less than the last acknowledged write
//   gaps         [from, to] for every stretch longer than 0.3 s without an
//                acknowledged request (from the start, or an acknowledgement)
//   slow         [time begun, seconds] for requests that took longer than 0.5 s
//   warned       [time begun, [count, first, last message, ...]] for
//                acknowledged requests with warnings
//   first_ack_at, attempts, start, end
if ($argc != 4 && $argc != 8) {
    fwrite(STDERR, "usage: session_failover_worker.php <sid> <pause-ms> <max-seconds> "
                   . "[<last> <last-ack-at> <last-sent-at> <max-written>]\n");
    exit(2);
}
$sid = $argv[1];
$pause = (int)$argv[2] * 1000;
$max_seconds = (float)$argv[3];
$last = $argc == 8 ? (int)$argv[4] : 0;
$last_ack_at = $argc == 8 ? (float)$argv[5] : 0.0;
$last_sent_at = $argc == 8 ? (float)$argv[6] : 0.0;
$max_written = $argc == 8 ? (int)$argv[7] : 0;

$messages = [];
set_error_handler(function ($no, $str) use (&$messages) {
    if ($no & (E_DEPRECATED | E_USER_DEPRECATED)) {
        return false;  // pecl memcache trips PHP 8.2's dynamic-property notices
    }
    $messages[] = $str;
    return true;
});

// [number of messages, the first, the last, whether the handler gave up
// waiting for the lock]: a lock loop can warn 36 times.
function brief($messages) {
    if (!$messages) {
        return [];
    }
    $lock = false;
    foreach ($messages as $m) {
        $lock = $lock || strpos($m, 'Unable to clear session lock record') !== false;
    }
    return [count($messages), $messages[0], end($messages), $lock];
}

stream_set_blocking(STDIN, false);
$input = '';
$hold_next = false;
// Reads the commands that arrived; true when the worker is to stop.
function stop_requested() {
    global $input, $hold_next;
    $r = [STDIN];
    $w = $e = null;
    while (@stream_select($r, $w, $e, 0) > 0) {
        $data = fread(STDIN, 4096);
        if ($data === '' || $data === false) {
            return true;  // end of input
        }
        $input .= $data;
        $r = [STDIN];
    }
    while (($nl = strpos($input, "\n")) !== false) {
        $line = substr($input, 0, $nl);
        $input = substr($input, $nl + 1);
        if ($line === 'stop') {
            return true;
        }
        if ($line === 'hold') {
            $hold_next = true;
        }
    }
    return false;
}

function results() {
    global $sid, $acks, $last, $last_ack_at, $last_sent_at, $max_written, $failures,
           $regressions, $gaps, $slow, $warned, $first_ack_at, $i, $start;
    return ['sid' => $sid, 'acks' => $acks, 'last' => $last, 'last_ack_at' => $last_ack_at,
            'last_sent_at' => $last_sent_at, 'max_written' => $max_written,
            'failures' => $failures, 'regressions' => $regressions, 'gaps' => $gaps,
            'slow' => $slow, 'warned' => $warned, 'first_ack_at' => $first_ack_at,
            'attempts' => $i, 'start' => $start, 'end' => microtime(true)];
}

function wait_for_line() {
    stream_set_blocking(STDIN, true);
    fgets(STDIN);
    stream_set_blocking(STDIN, false);
}

$acks = 0;
$failures = [];
$regressions = [];
$gaps = [];
$slow = [];
$warned = [];
$first_ack_at = null;
$start = microtime(true);
$since = $start;  // the last acknowledgement (or the start)
for ($i = 0; microtime(true) - $start < $max_seconds; $i++) {
    if ($i > 0 && stop_requested()) {
        break;
    }
    $begun = microtime(true);
    $messages = [];
    session_id($sid);
    $ok = session_start();
    $read_messages = $messages;
    if ($i == 0) {
        echo "started\n";
        fflush(STDOUT);
    }
    if (!$ok) {
        $failures[] = [$begun, microtime(true), 'read', brief($read_messages)];
        if (session_status() == PHP_SESSION_ACTIVE) {
            session_abort();
        }
        usleep(50000);
        continue;
    }
    if ($hold_next) {
        $hold_next = false;
        echo "locked ", json_encode(results()), "\n";
        fflush(STDOUT);
        wait_for_line();
    }
    $n = $_SESSION['n'] ?? 0;
    $read_at = microtime(true);
    if ($n < $last) {
        $regressions[] = [$i, $n, $last, $last_ack_at, $read_at, $last_sent_at];
    }
    $_SESSION['n'] = $n + 1;
    $max_written = max($max_written, $n + 1);
    $sent_at = microtime(true);
    $messages = [];
    $ok = session_write_close();
    foreach ($messages as $m) {
        if (strpos($m, 'Failed to write session data') !== false) {
            $ok = false;
        }
    }
    $done = microtime(true);
    if ($done - $begun > 0.5) {
        $slow[] = [$begun, $done - $begun];
    }
    if (!$ok) {
        $failures[] = [$begun, $done, 'write', brief($messages)];
        usleep(50000);
        continue;
    }
    if ($read_messages || $messages) {
        $warned[] = [$begun, brief(array_merge($read_messages, $messages))];
    }
    $acks++;
    $first_ack_at = $first_ack_at ?? $done;
    $last = $n + 1;
    $last_ack_at = $done;
    $last_sent_at = $sent_at;
    if ($done - $since > 0.3) {
        $gaps[] = [$since, $done];
    }
    $since = $done;
    usleep($pause);
}
if (microtime(true) - $since > 0.3) {
    $gaps[] = [$since, microtime(true)];
}
echo json_encode(results()), "\n";
