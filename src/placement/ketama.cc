// libmemcached 1.1's ketama (its update_continuum and dispatch_host),
// reimplemented. A server's point names are "host-i" when its port is 11211, else
// "host:port-i", host as the client was given it. Points sort by (value, server
// index); a key goes to the first point >= its hash, wrapping to the first point.
// A dead server is ejected and the continuum rebuilt from the live ones, so the
// failover order is found by removing each owner in turn.
#include <algorithm>
#include <cmath>

#include "placement/hashes.h"
#include "placement/ring_impl.h"

namespace syncached::placement {
namespace {

constexpr uint32_t kDefaultPort = 11211;
constexpr uint32_t kPointsPerServer = 100;        // MEMCACHED_POINTS_PER_SERVER
constexpr uint32_t kPointsPerServerKetama = 160;  // MEMCACHED_POINTS_PER_SERVER_KETAMA

struct Point {
  uint32_t value;
  uint32_t index;
};

struct Server {
  std::string name;  // the point-name stem
  uint32_t weight;
  NodeId id;
};

class KetamaRing : public Ring::Impl {
 public:
  KetamaRing(const Members& members, bool libketama) : md5_keys_(libketama) {
    weighted_points_ = libketama;
    for (const auto& m : members.nodes()) {
      std::string name = m.port == kDefaultPort ? m.host : m.host + ":" + std::to_string(m.port);
      servers_.push_back({std::move(name), m.weight, m.id});
      if (m.weight > 1) weighted_points_ = true;  // as memcached_server_push does
    }
    full_ = Build(std::vector<bool>(servers_.size(), true));
    stable_ = StableUnderEjection();
  }

  void Owners(std::string_view key, size_t r, const Ring::Alive* alive,
              std::vector<NodeId>* out) const override {
    size_t want = out->size() + std::min(r, servers_.size());
    if (r == 0 || servers_.empty()) return;
    uint32_t hash = KeyHash(key);
    if (stable_) {
      // Ejecting servers leaves the others' points as they are: walk clockwise.
      SeenSet seen(servers_.size());
      size_t start = Lookup(full_, hash);
      for (size_t step = 0; step < full_.size() && out->size() < want; ++step) {
        uint32_t idx = full_[(start + step) % full_.size()].index;
        if (!seen.Insert(idx)) continue;
        if (!alive || (*alive)(servers_[idx].id)) out->push_back(servers_[idx].id);
      }
      return;
    }
    std::vector<bool> live(servers_.size(), true);
    if (alive) {
      for (size_t i = 0; i < servers_.size(); ++i) live[i] = (*alive)(servers_[i].id);
    }
    // Weighted points depend on the live set: rebuild after each ejection.
    while (out->size() < want) {
      auto c = Build(live);
      if (c.empty()) break;
      uint32_t idx = c[Lookup(c, hash)].index;
      out->push_back(servers_[idx].id);
      live[idx] = false;
    }
  }

 private:
  uint32_t KeyHash(std::string_view key) const {
    if (servers_.size() == 1) return 0;  // libmemcached skips hashing for one server
    return md5_keys_ ? Md5Hash(key) : OneAtATime(key);
  }

  // Points per server for the weighted continuum, with libmemcached's float arithmetic.
  static uint32_t WeightedPoints(uint32_t weight, uint64_t total_weight, uint32_t live) {
    float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
    float x = pct * static_cast<float>(kPointsPerServerKetama);
    x = x / 4.0f;
    x = x * static_cast<float>(live);
    x = x + 0.0000000001F;
    return static_cast<uint32_t>(std::floor(x) * 4);
  }

  std::vector<Point> Build(const std::vector<bool>& live) const {
    std::vector<Point> c;
    uint32_t live_count = 0;
    uint64_t total_weight = 0;
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (!live[i]) continue;
      ++live_count;
      total_weight += servers_[i].weight;
    }
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (!live[i]) continue;
      const Server& s = servers_[i];
      auto idx = static_cast<uint32_t>(i);
      if (weighted_points_) {
        uint32_t points = WeightedPoints(s.weight, total_weight, live_count);
        for (uint32_t p = 0; p < points / 4; ++p) {
          auto d = Md5(s.name + "-" + std::to_string(p));
          for (int a = 0; a < 4; ++a) {
            uint32_t v = uint32_t{d[3 + a * 4]} << 24 | uint32_t{d[2 + a * 4]} << 16 |
                         uint32_t{d[1 + a * 4]} << 8 | d[a * 4];
            c.push_back({v, idx});
          }
        }
      } else {
        for (uint32_t p = 0; p < kPointsPerServer; ++p) {
          c.push_back({OneAtATime(s.name + "-" + std::to_string(p)), idx});
        }
      }
    }
    std::sort(c.begin(), c.end(), [](const Point& a, const Point& b) {
      return a.value != b.value ? a.value < b.value : a.index < b.index;
    });
    return c;
  }

  static size_t Lookup(const std::vector<Point>& c, uint32_t hash) {
    auto it = std::lower_bound(c.begin(), c.end(), hash,
                               [](const Point& p, uint32_t h) { return p.value < h; });
    return it == c.end() ? 0 : static_cast<size_t>(it - c.begin());
  }

  // True when every server keeps the same points whatever subset is live: always
  // for unweighted points; for weighted ones only with equal weights whose point
  // count survives the float rounding for every live count.
  bool StableUnderEjection() const {
    if (!weighted_points_) return true;
    for (const auto& s : servers_) {
      if (s.weight != servers_[0].weight) return false;
    }
    uint32_t n = static_cast<uint32_t>(servers_.size());
    uint32_t want = WeightedPoints(1, n, n);
    for (uint32_t k = 1; k <= n; ++k) {
      if (WeightedPoints(1, k, k) != want) return false;
    }
    return true;
  }

  bool md5_keys_;
  bool weighted_points_ = false;
  bool stable_ = true;
  std::vector<Server> servers_;
  std::vector<Point> full_;
};

}  // namespace

std::unique_ptr<Ring::Impl> MakeKetamaRing(const Members& members, bool libketama_compatible) {
  return std::make_unique<KetamaRing>(members, libketama_compatible);
}

}  // namespace syncached::placement
