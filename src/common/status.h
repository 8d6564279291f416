// Status and Result<T>: error returns for the request path, where exceptions are not
// used (bad input is normal traffic). Result<T> keeps std::expected's member names so
// it can become an alias once the toolchain has one.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace syncached {

class [[nodiscard, gnu::warn_unused]] Status {
 public:
  enum class Code { kOk, kInvalid, kCorrupt, kNotFound, kIo, kUnavailable };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status Corrupt(std::string msg) { return Status(Code::kCorrupt, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Io(std::string msg) { return Status(Code::kIo, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }

 private:
  Status(Code c, std::string m) : code_(c), msg_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

template <typename E>
struct Unexpected {
  E error;
};
template <typename E>
Unexpected<E> MakeUnexpected(E e) {
  return Unexpected<E>{std::move(e)};
}

// A value or an error (Status by default).
template <typename T, typename E = Status>
class [[nodiscard, gnu::warn_unused]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}            // NOLINT: implicit
  Result(Unexpected<E> u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT
  Result(E e) requires(!std::is_same_v<T, E>)
      : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const {
    assert(has_value());
    return std::get<0>(v_);
  }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

}  // namespace syncached
