// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=value\n" lines to the unix socket named by $NOTIFY_SOCKET, which systemd sets
// for a Type=notify unit. The unit (packaging/syncached.service) waits for READY=1
// before it counts the node as started, so units ordered After= it and
// `systemctl start` return only once clients are served.
//
// Messages syncached sends: STATUS= while it loads its data and waits at the join
// gate; READY=1 once the client port accepts (after the join gate opened, the user
// switched and the pid file written; main.cc); STOPPING=1 when shutdown begins.
// Callable from any thread; costs a getenv when not under systemd.
#pragma once

#include <string_view>

namespace syncached::server {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") if $NOTIFY_SOCKET is set: a path, or
// an abstract socket when it starts with '@'. Returns whether it was delivered; false
// without $NOTIFY_SOCKET. Failures are logged at debug level, never fatal: the
// service manager's timeout reports a node that never became ready.
bool NotifyServiceManager(std::string_view state);

}  // namespace syncached::server
