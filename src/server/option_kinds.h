// The kinds of option values (options.h's table rows say which each option takes): how
// a value is checked, which error names it, and which field it goes to. A kind is a
// template over the field, so a row names its target (`&engine::Settings::maxconns`)
// and this file needs no knowledge of particular options. The ranges are checked when
// the table is compiled: a range the field cannot hold does not build.
//
// Errors throw ConfigError (config.h) with the option as `Where` names it; the exact
// wording is kept as it was, since scripts and tests match it. Start-up only, one thread.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "server/config.h"

namespace syncached::server {

// What error messages call the option: "-m", "--node-id", or "-o" with the sub-option
// ("ssl_key"), since memcached's -o messages name the sub-option alone.
struct Where {
  std::string_view option;
  std::string_view sub;
};

// getopt's has_arg. kOptionalValue is the long form's only (--verbose=vv): the short
// letter then takes none, so -vv and -vp 5 group as in memcached.
enum class Takes { kNothing, kValue, kOptionalValue };

struct Choice {
  const char* name;
  int64_t value;  // converted to the field's type
};

struct Action;
// `arg` is the value given, nullptr when none was (a switch, or "-o name" without '=').
using ApplyFn = void (*)(const Action& a, const Where& w, const char* arg, Config* c);

// One row's parser and target. Kinds fill the fields they use; the rest stay default.
struct Action {
  ApplyFn apply = nullptr;
  Takes takes = Takes::kValue;
  uint64_t min = 0, max = 0;             // Unsigned: in the units given; Size: in bytes
  uint64_t scale = 1;                    // Unsigned: the field gets value * scale (-m is in MiB)
  double low = 0, high = 0;              // Double
  bool to = true;                        // Set: what the field becomes
  const char* if_empty = nullptr;        // Path: the refusal of an empty value
  std::span<const Choice> choices = {};  // OneOf
};

[[noreturn]] void Fail(const std::string& what);
// memcached's own wording, printed without the "syncached: " prefix.
[[noreturn]] void FailVerbatim(const std::string& what);

// Decimal digits only, min..max; nullptr counts as empty.
uint64_t ParseUnsigned(const Where& w, const char* arg, uint64_t min, uint64_t max);
// Bytes with an optional k/m/g suffix (powers of 1024), min..max.
uint64_t ParseSize(const Where& w, const char* arg, uint64_t min, uint64_t max);
double ParseDouble(const Where& w, const char* arg, double low, double high);
// Appends the non-empty parts of s between seps.
void SplitInto(const std::string& s, char sep, std::vector<std::string>* out);

// Not constexpr on purpose: a kind that calls it while the table is compiled fails the
// build, and the compiler's message names this function and the row.
void RangeDoesNotFitTheField();

// The type of the field a member pointer names.
template <typename M>
struct FieldType;
template <typename C, typename T>
struct FieldType<T C::*> {
  using type = T;
};

// The field F names, in the Config, its engine::Settings or their Runtime: one template
// for all three, so a row writes the member pointer and nothing else.
template <auto F>
auto& FieldIn(Config* c) {
  if constexpr (requires { c->*F; }) {
    return c->*F;
  } else if constexpr (requires { c->engine.*F; }) {
    return c->engine.*F;
  } else {
    return c->engine.runtime.*F;
  }
}

// A row with a setter of its own (options.cc), for values no kind here fits.
constexpr Action Custom(ApplyFn fn, Takes takes = Takes::kValue) {
  return {.apply = fn, .takes = takes};
}

// Accepted and ignored: memcached's knobs for internals syncached does not have.
void ApplyNothing(const Action&, const Where&, const char*, Config*);
constexpr Action Ignore(Takes takes = Takes::kNothing) {
  return {.apply = &ApplyNothing, .takes = takes};
}

// A switch: the option takes no value and the field becomes `to` (-M: evictions off).
template <auto F>
void ApplySet(const Action& a, const Where&, const char*, Config* c) {
  FieldIn<F>(c) = a.to;
}
template <auto F>
constexpr Action Set(bool to = true) {
  return {.apply = &ApplySet<F>, .takes = Takes::kNothing, .to = to};
}

// Text as given, empty included (-u, -P).
template <auto F>
void ApplyText(const Action&, const Where&, const char* arg, Config* c) {
  FieldIn<F>(c) = arg ? arg : "";
}
template <auto F>
constexpr Action Text() {
  return {.apply = &ApplyText<F>};
}

// Text that may not be empty (a file or directory): "<option>: <if_empty>".
template <auto F>
void ApplyPath(const Action& a, const Where& w, const char* arg, Config* c) {
  if (!arg || !*arg) Fail(std::string(w.option) + ": " + a.if_empty);
  FieldIn<F>(c) = arg;
}
template <auto F>
constexpr Action Path(const char* if_empty) {
  return {.apply = &ApplyPath<F>, .if_empty = if_empty};
}

// A decimal number in min..max, stored times `scale`. The range must fit the field.
template <auto F>
void ApplyUnsigned(const Action& a, const Where& w, const char* arg, Config* c) {
  using T = typename FieldType<decltype(F)>::type;
  FieldIn<F>(c) = static_cast<T>(ParseUnsigned(w, arg, a.min, a.max) * a.scale);
}
template <auto F>
constexpr Action Unsigned(uint64_t min, uint64_t max, uint64_t scale = 1) {
  using T = typename FieldType<decltype(F)>::type;
  if (min > max || max > std::numeric_limits<T>::max() / scale) RangeDoesNotFitTheField();
  return {.apply = &ApplyUnsigned<F>, .min = min, .max = max, .scale = scale};
}

// Bytes, k/m/g suffix allowed (--backlog-size 64m), min..max bytes.
template <auto F>
void ApplySize(const Action& a, const Where& w, const char* arg, Config* c) {
  FieldIn<F>(c) = ParseSize(w, arg, a.min, a.max);
}
template <auto F>
constexpr Action Size(uint64_t min, uint64_t max) {
  using T = typename FieldType<decltype(F)>::type;
  if (min > max || max > std::numeric_limits<T>::max()) RangeDoesNotFitTheField();
  return {.apply = &ApplySize<F>, .min = min, .max = max};
}

template <auto F>
void ApplyDouble(const Action& a, const Where& w, const char* arg, Config* c) {
  FieldIn<F>(c) = ParseDouble(w, arg, a.low, a.high);
}
template <auto F>
constexpr Action Double(double low, double high) {
  static_assert(std::is_floating_point_v<typename FieldType<decltype(F)>::type>);
  return {.apply = &ApplyDouble<F>, .low = low, .high = high};
}

// One of a few words: "<option>: a, b or c, got '<value>'" otherwise.
[[noreturn]] void FailChoice(const Action& a, const Where& w, const char* arg);
template <auto F>
void ApplyOneOf(const Action& a, const Where& w, const char* arg, Config* c) {
  using T = typename FieldType<decltype(F)>::type;
  for (const Choice& choice : a.choices) {
    if (arg && std::string_view(arg) == choice.name) {
      FieldIn<F>(c) = static_cast<T>(choice.value);
      return;
    }
  }
  FailChoice(a, w, arg);
}
template <auto F>
constexpr Action OneOf(std::span<const Choice> choices) {
  return {.apply = &ApplyOneOf<F>, .choices = choices};
}

}  // namespace syncached::server
