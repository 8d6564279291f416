// Fuzzes the repair comparison's decoders and state machine: every byte from a peer
// is untrusted. Any input must decode cleanly or be refused; what decodes must
// re-encode to the same bytes; a comparison fed it must fail or answer, never crash.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "repair/repair.h"
#include "repair/wire.h"

namespace {
void Check(bool ok) {
  if (!ok) abort();
}

class NoKeys : public syncached::repair::Host {
 public:
  void ListBuckets(const std::vector<uint32_t>& buckets,
                   std::vector<std::vector<syncached::repair::KeyVersion>>* out) override {
    for (size_t i = 0; i < buckets.size(); ++i) {
      uint32_t b = buckets[i];
      (*out)[i].push_back({"k" + std::to_string(b), {b, 1}, b % 2 == 0});
    }
  }
  bool EvictedIn(uint32_t bucket) override { return bucket % 3 == 0; }
};
}  // namespace

using namespace syncached::repair;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  HashesMsg h;
  if (DecodeHashes(msg, &h)) Check(EncodeHashes(h) == msg);
  KeysMsg k;
  if (DecodeKeys(msg, &k)) Check(EncodeKeys(k) == msg);
  std::vector<std::string> w;
  if (DecodeWant(msg, &w)) Check(EncodeWant(w) == msg);
  static Digests* digests = [] {
    auto* d = new Digests(8);
    for (int i = 0; i < 100; ++i) d->Add("key" + std::to_string(i), {1, 1}, false);
    return d;
  }();
  Tree tree(*digests);
  NoKeys host;
  Comparison c(&tree, &host);
  std::vector<std::string> replies;
  c.OnMessage(msg, &replies);
  for (const std::string& r : replies) {
    MsgType t;
    Check(PeekType(r, &t));
  }
  return 0;
}
