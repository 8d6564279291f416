#include "metrics/exposition.h"
#include "metrics/metrics.h"

namespace syncached::metrics {

void StatTexts::Clear() {
  for (std::string* s :
       {&general, &settings, &items, &slabs, &replication, &persistence, &cluster}) {
    s->clear();
  }
}

void Render(const StatTexts& s, std::string* out) {
  Exposition e;
  // The node answered its own stats: the exporter's memcached_up is 1 by construction.
  e.Add("memcached_up", Type::kGauge, "1: the server answered (always, when it serves this).", 1);
  RenderMemcached(ParseStatLines(s.general), ParseStatLines(s.settings), ParseStatLines(s.items),
                  ParseStatLines(s.slabs), &e);
  RenderReplication(ParseStatLines(s.replication), &e);
  RenderPersistence(ParseStatLines(s.persistence), &e);
  RenderCluster(ParseStatLines(s.cluster), &e);
  e.Write(out);
}

}  // namespace syncached::metrics
