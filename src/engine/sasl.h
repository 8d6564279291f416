// SASL authentication for the binary protocol (-S), through Debian's Cyrus libsasl2 set
// up as memcached's init_sasl does: service "memcached", the host name as server FQDN,
// configuration from $SASL_CONF_PATH or the first of /etc/sasl/memcached.conf and
// /etc/sasl2/memcached.conf (mech_list, sasldb_path, pwcheck_method...), and memcached's
// own password file: $MEMCACHED_SASL_PWDB, lines of `user:password`, consulted by a
// checkpass callback before Cyrus's own password check (sasldb), re-read on every
// attempt so edits apply without a restart.
//
// Beyond memcached: the ANONYMOUS mechanism is never offered (it would let anyone in),
// and with no configuration file but a password file the mechanisms default to PLAIN
// (the only kind that file can verify) instead of refusing to start.
//
// Threads: SaslInit once before serving. The other calls may come from any worker; a
// SaslConn belongs to one connection. Cyrus's own thread safety is not relied on: every
// call into it is serialised by one mutex (authentication is rare; reading the password
// file happens under it, as memcached does it on its worker thread).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/engine.h"

namespace syncached::engine {

enum class SaslOutcome { kOk, kContinue, kFail };

struct SaslReply {
  SaslOutcome outcome = SaslOutcome::kFail;
  std::string data;   // kContinue: the server's challenge
  std::string user;   // the user who tried (for logs), when known; never the password
  std::string mech;   // the mechanism tried (for logs), made printable
  std::string error;  // kFail: Cyrus's reason
};

// The mechanisms on offer, space separated. False when Cyrus cannot list them.
bool SaslListMechs(SaslConnPtr* conn, std::string* out);
// SASL_AUTH: start `mech` with the client's first message (may be empty).
SaslReply SaslStart(SaslConnPtr* conn, std::string_view mech, std::string_view data);
// SASL_STEP: the next message of an exchange SaslStart began (fails otherwise).
SaslReply SaslStep(SaslConnPtr* conn, std::string_view data);

}  // namespace syncached::engine
