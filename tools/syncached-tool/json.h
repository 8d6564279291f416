// Just enough JSON output for --json: strings escaped, stat values that read as
// numbers written as numbers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncached::tool {

// "..." with JSON escapes; bytes >= 0x80 pass through (stats are ASCII; keys in a
// dump are not written as JSON).
std::string JsonString(std::string_view s);
// A number literal when s is one in JSON's grammar ("12", "-3", "0.25"), else a string.
std::string JsonScalar(std::string_view s);
// {"name": value, ...} in the given order, values through JsonScalar.
std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& stats);

}  // namespace syncached::tool
