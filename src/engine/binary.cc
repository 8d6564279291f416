// Binary protocol front end. Issue #5 fills this in; until then a binary client is
// disconnected at once (what memcached does with -B ascii), never left hanging.
#include "engine/commands.h"

namespace syncached::engine {

size_t Engine::ProcessBinary(Session& s, std::string_view in, std::string* out, size_t) {
  (void)out;
  s.close = true;
  return in.size();
}

}  // namespace syncached::engine
