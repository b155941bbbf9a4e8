#pragma once

// The idle timeout (launch_options::timeout): `on_no_request` runs once the
// worker has been idle that long, idleness being measured on the steady clock
// from the last request it took (or the last `on_no_request`). A wake-up that
// brings no request (a put its merge empties, a request whose caller gave up)
// does not restart it, and a request taken while the timer waits moves the
// deadline without re-arming it: when it fires early, it waits again for the
// rest. Made only for a worker launched with a timeout.

#include <workers/clock.hpp>
#include <workers/detail/clock_seam.hpp>
#include <workers/detail/config.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class idle_timer {
 public:
  // Idle from `now` (the launch).
  idle_timer(steady_clock::duration timeout, steady_clock::time_point now) noexcept
      : timeout_(timeout), since_(now) {}

  // Strand: a request was taken at `at`, or on_no_request returned then.
  void idle_from(steady_clock::time_point at) noexcept { since_ = at; }

  // Strand: the loop parked. `due()` runs on `strand` once the deadline may
  // have come (`expired` then tells): armed unless a wait for no later a
  // deadline is on already.
  void arm(const clock_seam& seam, const boost::asio::any_io_executor& strand,
           std::function<void()> due) {
    const steady_clock::time_point deadline = since_ + timeout_;
    if (armed_for_ && *armed_for_ <= deadline) return;
    if (!timer_) timer_ = seam.make_timer(strand);
    armed_for_ = deadline;
    timer_->wait_until(deadline, std::move(due));
  }

  // Strand, in `due()`: whether the worker has been idle its timeout by `now`.
  // If not (a request came since the timer was armed), the caller arms again.
  bool expired(steady_clock::time_point now) noexcept {
    armed_for_.reset();
    return now >= since_ + timeout_;
  }

  // The close: no wait goes on.
  void cancel() noexcept {
    armed_for_.reset();
    if (timer_) timer_->cancel();
  }
  // The execution context dies: the timer refers to it.
  void abandon() noexcept {
    armed_for_.reset();
    timer_.reset();
  }

 private:
  steady_clock::duration timeout_;
  steady_clock::time_point since_;                     // idle since
  std::optional<steady_clock::time_point> armed_for_;  // the deadline the timer waits for
  std::unique_ptr<time_source::timer> timer_;          // made at the first park
};

}  // namespace detail
WORKERS_END_NAMESPACE
