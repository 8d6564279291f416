// Command-line options of syncached-loadgen. Parsed once in main, then shared
// read-only by every loadgen thread.
#pragma once

#include <cstdint>
#include <string>

namespace syncached::bench {

enum class Proto { kText, kMeta, kBinary };
enum class Verify { kNone, kLength, kFull };

struct Options {
  std::string host = "127.0.0.1";
  int port = 11211;
  int threads = 1;
  int conns = 4;  // total over all threads
  int depth = 1;  // requests in flight per connection
  int mget = 1;   // keys per get request; > 1 uses the protocol's multi-get form
  uint32_t keys = 100000;
  std::string key_prefix = "key:";
  std::string key_file;  // --key-file: overrides keys and key_prefix
  uint32_t value_size = 100;
  uint32_t get_weight = 9;  // --ratio GET:SET
  uint32_t set_weight = 1;
  Proto proto = Proto::kText;
  double duration = 10.0;  // seconds of measurement; 0 with requests == 0: none
  uint64_t requests = 0;   // if > 0: measure this many requests instead of a duration
  bool preload = false;    // set every key once before measuring
  bool readback = false;   // get every key once after measuring
  Verify verify = Verify::kFull;
  double stall_timeout = 10.0;  // seconds without any response while waiting: fail
  uint64_t seed = 1;
  bool tls = false;  // --tls: TLS to the server (memcached -Z), certificate not verified

  bool measure() const { return duration > 0 || requests > 0; }
};

const char* ProtoName(Proto p);

// Parses argv into *out. On a bad or unknown flag prints one line to stderr and
// returns false. Prints usage and exits 0 for --help.
bool ParseOptions(int argc, char** argv, Options* out);

}  // namespace syncached::bench
