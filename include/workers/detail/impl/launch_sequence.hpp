#pragma once

// The launch (worker_impl.hpp), on the strand, posted by the launch's
// initiation (launch.hpp): on_launch, plain or awaited, gives the state; then
// the worker runs and the launch's caller gets the worker. A launch that fails
// (on_launch returned an error or threw, or a close cut an awaited on_launch
// short) leaves no trace: the close runs on the spot, without on_close (it
// never ran), whatever on_launch pushed is answered `closed`, the name leaves
// the table, and the caller gets the error.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <fmt/format.h>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::start_launch(waiter_ptr reply) {
  launch_reply_ = std::move(reply);
  self_ = access::make_worker<handle_type>(this->hold());
  this->hold_work();
  drive(launch());
}

template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::name_taken() const -> launch_result {
  return launch_failure(
      errc::name_taken,
      fmt::format("workers: a worker named {} is already live in this table", this->full_name()),
      std::nullopt, nullptr);
}

// The first launch, or a restart's (impl/restart_sequence.hpp): a close
// waits for an awaited on_launch to return, unless it cuts it (an abort).
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::launch() -> pending {
  launching_ = true;
  if constexpr (has_launch) {
    return invoke_hook(
        [this] { return handlers_.on_launch(self_, this->name(), this->parameters()); },
        [this](outcome<launch_return> o) -> pending {
          launched(std::move(o));
          return std::nullopt;
        });
  } else {
    launched(outcome<launch_return>(boost::system::in_place_value, state_type{}));
    return std::nullopt;
  }
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::launched(outcome<launch_return>&& o) {
  launching_ = false;
  const bool restart = std::exchange(restart_step_, restart_step::none) == restart_step::launching;
  if (take_cut() == cut::by_close) {
    fail_launch(errc::closed,
                fmt::format("workers: launch of {} failed: it was shut down during on_launch",
                            this->full_name()),
                std::nullopt, nullptr);
    return;
  }
  if (!o) {
    std::string message = fmt::format("workers: launch of {} failed: on_launch threw: {}",
                                      this->full_name(), described(o.error()));
    if (restart)
      relaunch_failed(std::move(message));
    else
      fail_launch(errc::handler_exception, std::move(message), std::nullopt, o.error());
    return;
  }
  if constexpr (is_result<launch_return>) {
    if (!*o) {
      std::string message = fmt::format("workers: launch of {} failed: on_launch returned an error",
                                        this->full_name());
      if (restart)
        relaunch_failed(std::move(message));
      else
        fail_launch(errc::launch_failed, std::move(message), std::move(o->error()), nullptr);
      return;
    }
    this->set_running(std::move(**o));
  } else {
    this->set_running(std::move(*o));
  }
  if (restart)
    this->note_restarted(this->restarts());
  else
    this->note_started(this->name());
  this->mailbox().launched();
  answer_launch(launch_result(self_));
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::fail_launch(errc code, std::string message,
                                            std::optional<launch_error_type> error,
                                            std::exception_ptr ex) {
  this->note_launch_failed(message);
  this->request_close(close_cause::launch_failed);  // the first cause, unless a close began
  (void)advance_close(false, true);                 // from on_launch's end; no state: no on_close
  answer_launch(launch_failure(code, std::move(message), std::move(error), std::move(ex)));
}

template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::launch_failure(errc code, std::string message,
                                               std::optional<launch_error_type> error,
                                               std::exception_ptr ex) -> launch_result {
  return {boost::system::in_place_error,
          workers::launch_error<launch_error_type>{make_error_code(code), std::move(message),
                                                   std::move(error), std::move(ex)}};
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::answer_launch(launch_result&& r) {
  if (auto reply = std::move(launch_reply_)) typed<launch_result>(reply)->answer(std::move(r));
}

}  // namespace detail
WORKERS_END_NAMESPACE
