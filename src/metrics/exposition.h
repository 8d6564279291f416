// Internal: metric families collected during one render, written in the text format,
// and the parsed stat lines they come from.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncached::metrics {

enum class Type { kGauge, kCounter };

using Label = std::pair<std::string_view, std::string_view>;

// Families keyed by name, so samples of one family added from different stats stay
// together (the format requires it) and the output is sorted as client_golang sorts it.
class Exposition {
 public:
  void Add(std::string_view name, Type type, std::string_view help, double value,
           std::initializer_list<Label> labels = {});
  void Write(std::string* out) const;

 private:
  struct Family {
    Type type;
    std::string_view help;
    std::vector<std::pair<std::string, double>> samples;  // escaped labels, value
  };
  std::map<std::string_view, Family> families_;
};

// "STAT name value" lines as (name, value) views into the text.
using StatList = std::vector<std::pair<std::string_view, std::string_view>>;
StatList ParseStatLines(std::string_view text);
// Finds a stat by name (nullptr if absent).
const std::string_view* Find(const StatList& stats, std::string_view name);
// A stat's value as a number; false if absent or not a number.
bool Number(std::string_view value, double* out);
bool NumberOf(const StatList& stats, std::string_view name, double* out);

void RenderMemcached(const StatList& general, const StatList& settings, const StatList& items,
                     const StatList& slabs, Exposition* e);
void RenderReplication(const StatList& stats, Exposition* e);
void RenderPersistence(const StatList& stats, Exposition* e);
// `stats cluster` (sharded nodes): syncached_cluster_*.
void RenderCluster(const StatList& stats, Exposition* e);

}  // namespace syncached::metrics
