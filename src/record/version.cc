#include "record/version.h"

#include <ostream>

namespace syncached::record {

std::string Version::ToString() const {
  return std::to_string(HlcMillis(hlc)) + "." + std::to_string(HlcLogical(hlc)) + "@" +
         std::to_string(node);
}

std::ostream& operator<<(std::ostream& os, const Version& v) { return os << v.ToString(); }

}  // namespace syncached::record
