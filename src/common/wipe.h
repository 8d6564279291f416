// Wiping secrets from memory we own once they are no longer needed (the cluster
// secret after the CURVE keys are derived from it), so a later core dump or a read
// of freed heap does not find them. explicit_bzero is not optimized away.
#pragma once

#include <string.h>

#include <string>

namespace syncached {

// Zeroes the string's bytes, then releases its buffer (a secret is at least 16 bytes,
// past std::string's inline capacity, so the zeroed heap block is what is freed).
inline void WipeString(std::string* s) {
  if (!s->empty()) explicit_bzero(s->data(), s->size());
  s->clear();
  s->shrink_to_fit();
}

}  // namespace syncached
