#pragma once

// "Inside one of the worker's hooks" is a fact the worker tracks, not a guess
// from `running_in_this_thread()`: a plain callback completed on the worker's
// strand is not a hook. The worker marks the thread while it runs user code
// (hooks, merge, read): around a plain call, and around every resumption of
// its coroutines, whose executor is a `hook_executor` over the worker's
// strand. A thread is inside worker W's hook when it is marked and W's strand
// runs on it; strands do not nest (a worker launched from another's executor
// gets a strand of the inner executor), so no other worker's mark can pass
// for W's.

#include <workers/detail/config.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

namespace asio = boost::asio;

inline thread_local unsigned hook_depth = 0;

// Marks the calling thread as running user code for a worker, while it lives.
class hook_scope {
 public:
  hook_scope() noexcept { ++hook_depth; }
  ~hook_scope() { --hook_depth; }
  hook_scope(const hook_scope&) = delete;
  hook_scope& operator=(const hook_scope&) = delete;

  static bool marked() noexcept { return hook_depth != 0; }
};

// The executor of the worker's coroutines (the loop while it awaits a hook,
// an awaitable on_launch, a callback's reader): the worker's strand, marking
// the thread around each function it runs. Its copies are as small as the
// strand's, so an any_io_executor holds one without allocating.
template <class Strand>
class hook_executor {
 public:
  using inner_executor_type = Strand;

  explicit hook_executor(Strand s) noexcept : s_(std::move(s)) {}

  const Strand& get_inner_executor() const noexcept { return s_; }

  template <class F>
  void execute(F&& f) const {
    asio::execution::execute(s_, marked<std::decay_t<F>>{std::forward<F>(f)});
  }

  template <class P>
  requires asio::can_query<const Strand&, const P&>::value decltype(auto) query(const P& p) const
      noexcept(asio::is_nothrow_query<const Strand&, const P&>::value) {
    return asio::query(s_, p);
  }
  template <class P>
  requires asio::can_require<const Strand&, const P&>::value auto require(const P& p) const {
    return hook_executor<std::decay_t<decltype(asio::require(s_, p))>>(asio::require(s_, p));
  }
  template <class P>
  requires asio::can_prefer<const Strand&, const P&>::value auto prefer(const P& p) const {
    return hook_executor<std::decay_t<decltype(asio::prefer(s_, p))>>(asio::prefer(s_, p));
  }

  friend bool operator==(const hook_executor& a, const hook_executor& b) noexcept {
    return a.s_ == b.s_;
  }
  friend bool operator!=(const hook_executor& a, const hook_executor& b) noexcept {
    return !(a == b);
  }

 private:
  template <class F>
  struct marked {
    F f;
    void operator()() {
      hook_scope inside;
      std::move(f)();
    }
  };

  Strand s_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
