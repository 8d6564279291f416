#include "engine/sasl.h"

#include <sasl/sasl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>

#include "common/log.h"

namespace syncached::engine {

struct SaslConn {
  sasl_conn_t* conn = nullptr;
  bool started = false;  // SASL_AUTH ran: SASL_STEP may follow (memcached's sasl_started)
};

namespace {

// Serialises every call into Cyrus and guards the globals below (callbacks run under it).
std::mutex g_mu;
std::once_flag g_once;
Status g_init_status = Status::Invalid("SASL not initialised");
bool g_initialized = false;
std::string g_pwdb;                  // $MEMCACHED_SASL_PWDB, empty when unset
std::string g_conf_path;             // what the GETCONFPATH callback answers
bool g_default_plain = false;        // no config file, password file only: offer PLAIN
bool g_pwdb_wrong_password = false;  // the password file knew the user of the last attempt
char g_hostname[256];

// Constant-time compare so a wrong password does not leak its matching prefix length.
bool SafeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// memcached's rule (sasl_server_userdb_checkpass): the first line `user:...` decides;
// its password runs to the next ':' (more fields may follow) or the end of the line.
// Cyrus hands over the canonical user, "name@realm" with the host name as default
// realm, so memcached only matches lines written "alice@host:..."; a plain "alice:..."
// line matches here too when the realm is that default (memcached issue #263).
bool PwdbCheck(std::string_view user, std::string_view pass) {
  std::ifstream in(g_pwdb);
  if (!in) {
    SC_LOG(kWarn, "SASL: cannot read MEMCACHED_SASL_PWDB file '%s'", g_pwdb.c_str());
    return false;
  }
  std::string_view bare = user;
  std::string default_realm = std::string("@") + g_hostname;
  if (g_hostname[0] && user.size() > default_realm.size() && user.ends_with(default_realm)) {
    bare = user.substr(0, user.size() - default_realm.size());
  }
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    std::string_view l = line;
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = l.substr(0, colon);
    if (name != user && name != bare) continue;
    std::string_view stored = l.substr(colon + 1);
    stored = stored.substr(0, stored.find(':'));
    bool ok = SafeEqual(stored, pass);
    g_pwdb_wrong_password = !ok;
    return ok;
  }
  return false;
}

int CheckPass(sasl_conn_t*, void*, const char* user, const char* pass, unsigned passlen,
              struct propctx*) {
  // Not SASL_OK: Cyrus goes on to its own check (sasldb), as it does for memcached.
  return PwdbCheck(user, std::string_view(pass, passlen)) ? SASL_OK : SASL_NOAUTHZ;
}

int Log(void*, int level, const char* message) {
  switch (level) {
    case SASL_LOG_ERR:
      SC_LOG(kError, "SASL: %s", message);
      break;
    case SASL_LOG_FAIL:
    case SASL_LOG_WARN:
      SC_LOG(kInfo, "SASL: %s", message);
      break;
    case SASL_LOG_NOTE:
    case SASL_LOG_DEBUG:
    case SASL_LOG_TRACE:
      SC_LOG(kDebug, "SASL: %s", message);
      break;
    default:
      break;  // SASL_LOG_PASS traces carry passwords: never logged
  }
  return SASL_OK;
}

int GetConfPath(void*, char** path) {
  *path = const_cast<char*>(g_conf_path.c_str());
  return SASL_OK;
}

int GetOpt(void*, const char* plugin, const char* option, const char** result, unsigned* len) {
  if (g_default_plain && plugin == nullptr && std::string_view(option) == "mech_list") {
    *result = "PLAIN";
    if (len) *len = 5;
    return SASL_OK;
  }
  return SASL_FAIL;
}

bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// memcached's sasl_getconf (GETCONFPATH flavour): $SASL_CONF_PATH, else the directory
// holding memcached.conf (or a memcached.conf directory holding it).
bool FindConfPath(std::string* path) {
  if (const char* env = getenv("SASL_CONF_PATH")) {
    *path = env;
    return true;
  }
  for (const char* dir : {"/etc/sasl", "/etc/sasl2"}) {
    std::string conf = std::string(dir) + "/memcached.conf";
    if (Exists(conf + "/memcached.conf")) {
      *path = conf;
      return true;
    }
    if (Exists(conf)) {
      *path = dir;
      return true;
    }
  }
  return false;
}

// Cyrus stores every callback as int (*)(void); going through void (*)() is the
// conversion compilers accept without a function-type warning.
template <typename F>
auto AsCallback(F* f) {
  return reinterpret_cast<int (*)(void)>(reinterpret_cast<void (*)()>(f));
}

sasl_callback_t g_callbacks[] = {
    {SASL_CB_LOG, AsCallback(&Log), nullptr},
    {SASL_CB_GETCONFPATH, AsCallback(&GetConfPath), nullptr},
    {SASL_CB_GETOPT, AsCallback(&GetOpt), nullptr},
    {SASL_CB_SERVER_USERDB_CHECKPASS, AsCallback(&CheckPass), nullptr},
    {SASL_CB_LIST_END, nullptr, nullptr},
};

Status DoInit() {
  if (const char* pwdb = getenv("MEMCACHED_SASL_PWDB")) g_pwdb = pwdb;
  if (g_pwdb.empty()) g_callbacks[3] = {SASL_CB_LIST_END, nullptr, nullptr};
  if (!FindConfPath(&g_conf_path)) {
    if (g_pwdb.empty()) {
      return Status::Invalid(
          "-S: no SASL configuration: create /etc/sasl2/memcached.conf, point SASL_CONF_PATH "
          "at the directory holding memcached.conf, or set MEMCACHED_SASL_PWDB");
    }
    g_conf_path = "/etc/sasl2";
    g_default_plain = true;
  }
  if (gethostname(g_hostname, sizeof g_hostname - 1) != 0) g_hostname[0] = '\0';
  int rc = sasl_server_init(g_callbacks, "memcached");
  if (rc != SASL_OK) {
    return Status::Invalid(std::string("-S: cannot initialise SASL: ") +
                           sasl_errstring(rc, nullptr, nullptr));
  }
  SC_LOG(kInfo, "SASL initialised (config path %s%s%s)", g_conf_path.c_str(),
         g_pwdb.empty() ? "" : ", password file ", g_pwdb.c_str());
  g_initialized = true;
  return Status::Ok();
}

// Makes the connection's Cyrus state on first use. g_mu held.
bool EnsureConnLocked(SaslConnPtr* conn) {
  if (!*conn) conn->reset(new SaslConn);
  if ((*conn)->conn) return true;
  if (!g_initialized) return false;
  sasl_conn_t* c = nullptr;
  int rc = sasl_server_new("memcached", nullptr, g_hostname[0] ? g_hostname : nullptr, nullptr,
                           nullptr, nullptr, 0, &c);
  if (rc != SASL_OK) {
    SC_LOG(kWarn, "SASL: cannot start a connection: %s", sasl_errstring(rc, nullptr, nullptr));
    return false;
  }
  // No security layer (the protocol has none) and never ANONYMOUS.
  sasl_security_properties_t props{};
  props.security_flags = SASL_SEC_NOANONYMOUS;
  sasl_setprop(c, SASL_SEC_PROPS, &props);
  (*conn)->conn = c;
  return true;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (char ch : s.substr(0, 64)) out.push_back(ch >= 0x20 && ch < 0x7f ? ch : '?');
  return out;
}

// Who tried: Cyrus's canonical user, else PLAIN's authcid (authzid NUL authcid NUL pass).
std::string UserOf(sasl_conn_t* c, std::string_view mech, std::string_view data) {
  const void* user = nullptr;
  if (sasl_getprop(c, SASL_USERNAME, &user) == SASL_OK && user) {
    return Printable(static_cast<const char*>(user));
  }
  if (mech == "PLAIN") {
    size_t a = data.find('\0');
    if (a != std::string_view::npos) {
      std::string_view rest = data.substr(a + 1);
      return Printable(rest.substr(0, rest.find('\0')));
    }
  }
  return "";
}

SaslReply Finish(sasl_conn_t* c, int rc, const char* out, unsigned outlen, std::string_view mech,
                 std::string_view data) {
  SaslReply r;
  if (rc == SASL_OK) {
    r.outcome = SaslOutcome::kOk;
  } else if (rc == SASL_CONTINUE) {
    r.outcome = SaslOutcome::kContinue;
    if (out) r.data.assign(out, outlen);
    return r;
  } else {
    r.outcome = SaslOutcome::kFail;
    // Cyrus reports its own (sasldb) verdict, which follows a password file miss.
    r.error = g_pwdb_wrong_password ? "wrong password (MEMCACHED_SASL_PWDB)"
                                    : sasl_errstring(rc, nullptr, nullptr);
  }
  r.user = UserOf(c, mech, data);
  r.mech = Printable(mech);
  return r;
}

}  // namespace

void SaslConnDeleter::operator()(SaslConn* c) const {
  if (c->conn) {
    std::lock_guard lock(g_mu);
    sasl_dispose(&c->conn);
  }
  delete c;
}

Status SaslInit() {
  std::call_once(g_once, [] {
    std::lock_guard lock(g_mu);
    g_init_status = DoInit();
  });
  return g_init_status;
}

bool SaslListMechs(SaslConnPtr* conn, std::string* out) {
  std::lock_guard lock(g_mu);
  if (!EnsureConnLocked(conn)) return false;
  const char* list = nullptr;
  unsigned len = 0;
  int rc = sasl_listmech((*conn)->conn, nullptr, "", " ", "", &list, &len, nullptr);
  if (rc != SASL_OK) return false;
  out->assign(list, len);
  return true;
}

SaslReply SaslStart(SaslConnPtr* conn, std::string_view mech, std::string_view data) {
  std::lock_guard lock(g_mu);
  SaslReply r;
  r.mech = Printable(mech);
  if (!EnsureConnLocked(conn)) {
    r.error = "no SASL connection";
    return r;
  }
  std::string m(mech);
  const char* out = nullptr;
  unsigned outlen = 0;
  // memcached passes no client data (not an empty one) when the payload is empty.
  g_pwdb_wrong_password = false;
  int rc = sasl_server_start((*conn)->conn, m.c_str(), data.empty() ? nullptr : data.data(),
                             static_cast<unsigned>(data.size()), &out, &outlen);
  (*conn)->started = rc == SASL_OK || rc == SASL_CONTINUE;
  return Finish((*conn)->conn, rc, out, outlen, mech, data);
}

SaslReply SaslStep(SaslConnPtr* conn, std::string_view data) {
  std::lock_guard lock(g_mu);
  SaslReply r;
  if (!EnsureConnLocked(conn) || !(*conn)->started) {
    r.error = "SASL_STEP before SASL_AUTH";
    return r;
  }
  const char* out = nullptr;
  unsigned outlen = 0;
  g_pwdb_wrong_password = false;
  int rc = sasl_server_step((*conn)->conn, data.empty() ? nullptr : data.data(),
                            static_cast<unsigned>(data.size()), &out, &outlen);
  const char* mech = nullptr;
  sasl_getprop((*conn)->conn, SASL_MECHNAME, reinterpret_cast<const void**>(&mech));
  return Finish((*conn)->conn, rc, out, outlen, mech ? mech : "", data);
}

}  // namespace syncached::engine
