#pragma once
// Result<T, E>: a value or an error, for failures the caller must handle (bad input,
// environment errors). g++ 12 has no <expected>; this is the small subset vsr uses.

#include <type_traits>
#include <utility>
#include <variant>

#include "vsr/base/assert.hpp"

namespace vsr {

/// An error on its way into a Result: `return fail(Error{...});`.
template <class E>
struct Failure {
  E error;
};

/// Wraps an error so that it converts into any Result<T, E>.
template <class E>
Failure<std::decay_t<E>> fail(E&& error) {
  return Failure<std::decay_t<E>>{std::forward<E>(error)};
}

/// Holds either a T (success) or an E (failure). Accessing the wrong side is a bug and aborts.
template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <class F>
  requires std::is_constructible_v<E, F> Result(Failure<F> failure)
      : state_(std::in_place_index<1>, std::move(failure.error)) {}  // NOLINT

  /// Returns true iff this holds a value.
  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  /// REQUIRES: ok().
  T& value() & {
    VSR_ASSERT(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    VSR_ASSERT(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    VSR_ASSERT(ok());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// REQUIRES: !ok().
  const E& error() const& {
    VSR_ASSERT(!ok());
    return std::get<1>(state_);
  }
  E&& error() && {
    VSR_ASSERT(!ok());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, E> state_;
};

/// Result without a value: success, or an E.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class F>
  requires std::is_constructible_v<E, F> Result(Failure<F> failure)
      : error_(std::move(failure.error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }

  /// REQUIRES: !ok().
  const E& error() const& {
    VSR_ASSERT(!ok_);
    return error_;
  }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace vsr
