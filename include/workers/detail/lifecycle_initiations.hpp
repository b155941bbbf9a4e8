#pragma once

// The initiations of the operations that wait for a worker's end: shutdown
// and wait_for_completion. See initiation.hpp.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/initiation.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/worker_core.hpp>
#include <workers/error.hpp>

#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// `shutdown(w)`: completes with `void(error_code)`. With a mode (and a
// deadline), `shutdown(w, mode, deadline)`: with `void(error_code, shutdown_report)`.
template <class Def, class Kind, bool WithReport = false>
class initiate_shutdown : public worker_initiation<Def, Kind> {
 public:
  initiate_shutdown(std::shared_ptr<worker_core<Def, Kind>> core,
                    shutdown_mode mode = shutdown_mode::abort,
                    steady_clock::duration deadline = no_deadline)
      : worker_initiation<Def, Kind>(std::move(core)), mode_(mode), deadline_(deadline) {}

  template <class Handler>
  void operator()(Handler&& handler) const {
    using value = std::conditional_t<WithReport, report_value, error_code>;
    auto& c = *this->core_;
    const close_terms terms = c.terms_for(mode_, deadline_);
    if (c.inside_hook()) {  // the close waits for this hook to return
      c.request_close(close_cause::shutdown, std::nullopt, terms);
      value v{};
      if constexpr (WithReport) {  // the close so far: it has not ended
        auto& r = std::get<1>(v);
        r.asked = mode_;
        r.reached = c.current_mode();
      }
      complete_now<value>(std::forward<Handler>(handler), this->io_executor(), std::move(v));
      return;
    }
    waiter_ptr w = make_waiter<value>(std::forward<Handler>(handler), this->io_executor(),
                                      {effects_kept, effects_kept});
    c.request_close(close_cause::shutdown, std::nullopt, terms);
    c.wait_closed(std::move(w), WithReport);
  }

 private:
  shutdown_mode mode_;
  steady_clock::duration deadline_;
};

template <class Def, class Kind>
class initiate_wait_for_completion : public worker_initiation<Def, Kind> {
 public:
  using worker_initiation<Def, Kind>::worker_initiation;

  template <class Handler>
  void operator()(Handler&& handler) const {
    this->core_->wait_closed(make_waiter<error_code>(
        std::forward<Handler>(handler), this->io_executor(), {any_cancellation, any_cancellation}));
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
