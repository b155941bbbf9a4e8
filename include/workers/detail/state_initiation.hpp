#pragma once

// The initiation of with_state: the user's function runs on the worker's
// strand, if the state exists, and what it gives goes to the caller. See
// initiation.hpp.

#include <workers/detail/config.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/worker_core.hpp>

#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// What with_state's function gives: whether it ran (void), or its value if it ran.
template <class T>
using with_state_value = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <class Def, class Kind>
class initiate_with_state : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler, class F>
  void operator()(Handler&& handler, F f) const {
    using T = std::invoke_result_t<F&, typename Def::state_type&>;
    using value = std::tuple<std::exception_ptr, with_state_value<T>>;
    auto& c = *this->core_;
    waiter_ptr w = make_waiter<value>(std::forward<Handler>(handler), this->io_executor(),
                                      {any_cancellation, asio::cancellation_type::none});
    c.post(waiter_job(std::move(w), [core = this->core_, f = std::move(f)](waiter_ptr& w) mutable {
      if (!w->start()) return;  // the caller gave up: f never runs
      value v{};
      try {
        if (auto* s = core->state_ptr()) {
          if constexpr (std::is_void_v<T>) {
            f(*s);
            std::get<1>(v) = true;
          } else {
            std::get<1>(v).emplace(f(*s));
          }
        }
      } catch (...) {
        std::get<0>(v) = std::current_exception();
      }
      typed<value>(w)->answer(std::move(v));
    }));
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
