#pragma once

// The library's way into its public types: a worker handle's core, a table's
// state, a canceler's hooks. Users have no use for them, so they are private
// and this struct is their only friend.

#include <workers/canceler.hpp>
#include <workers/detail/config.hpp>

#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

struct access {
  template <class W>
  static auto& core(const W& w) noexcept {
    return *w.core_;
  }
  template <class W>
  static const auto& core_ptr(const W& w) noexcept {
    return w.core_;
  }
  template <class W, class Ptr>
  static W make_worker(Ptr p) noexcept {
    return W(std::move(p));
  }
  template <class T>
  static const auto& table_state(const T& t) noexcept {
    return t.state_;
  }
  template <class T, class Ptr>
  static T make_table(Ptr p) noexcept {
    return T(std::move(p));
  }
  static workers::canceler make_canceler(bool done) { return workers::canceler(done); }
  static error_list cancel(const workers::canceler& c) { return c.cancel(); }
};

}  // namespace detail
WORKERS_END_NAMESPACE
