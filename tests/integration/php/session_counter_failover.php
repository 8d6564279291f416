<?php
// For the replication tests: increments $_SESSION['n'] in session <sid> for
// <seconds> (open, +1, close, with the handler's locking), surviving
// failures of single session servers, and prints one JSON line:
//   acks        increments whose session_write_close() reported success
//   last        the value of the last acknowledged write
//   failures    session_start() or session_write_close() that failed
//   regressions [attempt, value read, last acknowledged, time of that
//               acknowledgement, time of the read, time that write was begun]
//               whenever a read returned less than what this process last wrote
//   start, end  wall-clock times (s) of the first and last attempt
// (after a first line "started", printed before the first attempt).
// Handler, servers and locking come from -d options (test_replication_php.py).
// Usage: php session_counter_failover.php <sid> <seconds> <pause-ms>
if ($argc != 4) {
    fwrite(STDERR, "usage: session_counter_failover.php <sid> <seconds> <pause-ms>\n");
    exit(2);
}
$sid = $argv[1];
$seconds = (float)$argv[2];
$pause = (int)$argv[3] * 1000;
$acks = 0;
$last = 0;
$failures = 0;
$regressions = [];
$last_ack_at = 0.0;
$last_sent_at = 0.0;
$start = microtime(true);
echo "started\n";
fflush(STDOUT);
for ($i = 0; microtime(true) - $start < $seconds; $i++) {
    session_id($sid);
    if (!session_start()) {
        $failures++;
        usleep(50000);
        continue;
    }
    $n = $_SESSION['n'] ?? 0;
    if ($n < $last) {
        $regressions[] = [$i, $n, $last, $last_ack_at, microtime(true), $last_sent_at];
    }
    $_SESSION['n'] = $n + 1;
    $sent_at = microtime(true);
    if (session_write_close()) {
        $acks++;
        $last = $n + 1;
        $last_ack_at = microtime(true);
        $last_sent_at = $sent_at;
    } else {
        $failures++;
        usleep(50000);
    }
    usleep($pause);
}
echo json_encode(['sid' => $sid, 'acks' => $acks, 'last' => $last, 'failures' => $failures,
                  'regressions' => $regressions, 'start' => $start,
                  'end' => microtime(true)]), "\n";
