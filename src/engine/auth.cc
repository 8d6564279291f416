// -Y ascii authentication (memcached 1.6's try_read_command_asciiauth):
// before anything else the client sends "set <any> <flags> <exptime> <n>\r\n" followed
// by n bytes "user pass\r\n".
#include "common/log.h"
#include "engine/commands.h"
#include "protocol/reply.h"

namespace syncached::engine {
namespace {

// Constant-time compare so a wrong password does not leak its matching prefix length.
bool SafeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string_view Token(std::string_view* s) {
  while (!s->empty() && s->front() == ' ') s->remove_prefix(1);
  size_t end = s->find(' ');
  std::string_view t = s->substr(0, end);
  s->remove_prefix(end == std::string_view::npos ? s->size() : end);
  return t;
}

}  // namespace

bool Engine::CheckAsciiUser(std::string_view user, std::string_view pass) const {
  // Compare every entry in full (no short-circuit) so timing says nothing about which
  // part matched.
  int ok = 0;
  for (const auto& [u, p] : ascii_users_) {
    ok |= static_cast<int>(SafeEqual(user, u)) & static_cast<int>(SafeEqual(pass, p));
  }
  return ok != 0;
}

size_t AsciiAuth(Engine& e, Session& s, std::string_view in, std::string* out) {
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() > protocol::kMaxLineLength) {
      s.close = true;
      return in.size();
    }
    return 0;
  }
  std::string_view line = in.substr(0, nl);
  std::string_view rest = line;
  std::string_view cmd = Token(&rest);
  Token(&rest);
  Token(&rest);
  Token(&rest);
  uint32_t size = 0;
  if (cmd != "set" || !protocol::ParseU32(Token(&rest), &size)) {
    protocol::AppendTextError(out, protocol::TextError::kUnauthenticated);
    return nl + 1;
  }
  size_t need = nl + 1 + size_t{size} + 2;
  if (in.size() < need) return 0;
  std::string_view payload = in.substr(nl + 1, size_t{size} + 2);
  if (payload.substr(payload.size() - 2) != "\r\n") {
    protocol::AppendTextError(out, protocol::TextError::kAuthBadTermination);
    return need;
  }
  payload.remove_suffix(2);
  std::string_view user = Token(&payload);
  std::string_view pass = Token(&payload);
  if (user.empty() || pass.empty()) {
    protocol::AppendTextError(out, protocol::TextError::kAuthBadTokenFormat);
    return need;
  }
  s.stats->auth_cmds.Add();
  if (e.CheckAsciiUser(user, pass)) {
    s.authenticated = true;
    AppendLine(out, "STORED");
  } else {
    s.stats->auth_errors.Add();
    SC_LOG(kWarn, "ascii auth failed for user '%.*s'", static_cast<int>(user.size()), user.data());
    protocol::AppendTextError(out, protocol::TextError::kAuthFailure);
  }
  return need;
}

}  // namespace syncached::engine
