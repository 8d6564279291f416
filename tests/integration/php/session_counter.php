<?php
// Increments $_SESSION['n'] in session <sid> <count> times, opening and
// closing the (locked) session each time, then prints the value it last
// saw. The save handler and its locking come from -d options (test_php.py).
// Usage: php session_counter.php <sid> <count>
if ($argc != 3) {
    fwrite(STDERR, "usage: session_counter.php <sid> <count>\n");
    exit(2);
}
$sid = $argv[1];
$count = (int)$argv[2];
$last = null;
for ($i = 0; $i <= $count; $i++) {
    session_id($sid);
    if (!session_start()) {
        fwrite(STDERR, "session_start failed\n");
        exit(1);
    }
    if ($i < $count) {
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
    }
    $last = $_SESSION['n'] ?? 0;
    if (!session_write_close()) {
        fwrite(STDERR, "session_write_close failed\n");
        exit(1);
    }
}
echo $last, "\n";
