// Meta command (mg ms md ma mn me) parsing; internal to protocol.
#pragma once

#include <string_view>

#include "protocol/protocol.h"

namespace syncached::protocol {

// `tokens[0]` is the command ("mg"...), `n` the real token count (24 = too many).
ParseResult ParseMeta(std::string_view in, size_t line_end, char which,
                      const std::string_view* tokens, size_t n, size_t item_size_max, Request* req);

}  // namespace syncached::protocol
