// Scrape-cost comparison behind docs/PERFORMANCE.md "Metrics endpoint" (not part of the
// build; needs Debian's prometheus-cpp-dev). Serves the same families either with
// syncached's metrics::Endpoint or with prometheus-cpp's Exposer (civetweb), from stats
// texts captured from a node (general.txt ... persistence.txt: `stats <group>` replies
// without END) in the current directory:
//   B=build/src; g++ -O2 -std=c++20 -Isrc bench/metrics/scrape_cost.cc $B/metrics/libmetrics.a \
//     $B/net/libnet.a $B/common/libcommon.a -lprometheus-cpp-pull -lprometheus-cpp-core -lpthread
//   ./a.out ours|pcpp|pcpp-ka PORT > pid & python3 bench/metrics/scrape.py $(cat pid) PORT 1000
//   [newconn] [gzip]
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "metrics/metrics.h"

using namespace syncached;

std::string Slurp(const char* path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Families rebuilt from our own rendering once; every Collect copies them (optimistic
// for prometheus-cpp: no per-scrape mapping work).
struct Canned : prometheus::Collectable {
  std::vector<prometheus::MetricFamily> fams;
  std::vector<prometheus::MetricFamily> Collect() const override { return fams; }
};

int main(int argc, char** argv) {
  std::string mode = argv[1];
  uint16_t port = static_cast<uint16_t>(atoi(argv[2]));
  metrics::StatTexts canned;
  canned.general = Slurp("general.txt");
  canned.settings = Slurp("settings.txt");
  canned.items = Slurp("items.txt");
  canned.slabs = Slurp("slabs.txt");
  canned.replication = Slurp("replication.txt");
  canned.persistence = Slurp("persistence.txt");
  if (mode == "ours") {
    metrics::EndpointOptions o;
    o.listen = {"127.0.0.1"};
    o.port = port;
    metrics::Endpoint ep(o, [&](metrics::StatTexts* t) { *t = canned; });
    if (!ep.Start().ok()) return 1;
    std::cout << getpid() << std::endl;
    pause();
  } else {
    std::string text;
    metrics::Render(canned, &text);
    auto c = std::make_shared<Canned>();
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("# HELP ", 0) == 0) {
        prometheus::MetricFamily f;
        size_t sp = line.find(' ', 7);
        f.name = line.substr(7, sp - 7);
        f.help = line.substr(sp + 1);
        c->fams.push_back(f);
      } else if (line.rfind("# TYPE ", 0) == 0) {
        c->fams.back().type =
            line.back() == 'r' ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      } else {
        prometheus::ClientMetric m;
        size_t brace = line.find('{'), sp = line.rfind(' ');
        if (brace != std::string::npos) {
          std::string ls = line.substr(brace + 1, line.rfind('}') - brace - 1);
          size_t pos = 0;
          while (pos < ls.size()) {
            size_t eq = ls.find('=', pos), q = ls.find('"', eq + 2);
            m.label.push_back({ls.substr(pos, eq - pos), ls.substr(eq + 2, q - eq - 2)});
            pos = q + 2;
          }
        }
        double v = std::stod(line.substr(sp + 1));
        if (c->fams.back().type == prometheus::MetricType::Counter)
          m.counter.value = v;
        else
          m.gauge.value = v;
        c->fams.back().metric.push_back(m);
      }
    }
    std::vector<std::string> opts = {"listening_ports", "127.0.0.1:" + std::to_string(port)};
    if (mode == "pcpp-ka") opts.insert(opts.end(), {"enable_keep_alive", "yes"});
    prometheus::Exposer exposer{opts};
    exposer.RegisterCollectable(c);
    std::cout << getpid() << std::endl;
    pause();
  }
}
