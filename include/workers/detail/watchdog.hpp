#pragma once

// The watchdog (launch_options::watchdog): the clock side of it. It watches
// the request in hand, from its take, and says what is due: `slow`, `stuck`
// (the handler is cut), then `crash` (the grace, from the cut, ran out). One timer, on the
// worker's strand through the clock seam, waits for the next instant something
// may be due; it is armed at a take only if it waits for nothing earlier, so
// a worker whose requests are short arms it about once per budget, not once
// per request. When it fires for a request that has ended, it waits again for
// the one in hand. Made only for a worker launched with a watchdog.

#include <workers/clock.hpp>
#include <workers/detail/clock_seam.hpp>
#include <workers/detail/config.hpp>
#include <workers/launch_options.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class watchdog {
 public:
  explicit watchdog(const watchdog_budgets& b) noexcept : b_(b) {}

  const watchdog_budgets& budgets() const noexcept { return b_; }

  // Strand: a request's handling begins at `at`, or ends.
  void begin(const void* request, steady_clock::time_point at) noexcept {
    request_ = request;
    started_ = at;
    slow_ = stuck_ = crash_ = false;
  }
  void end() noexcept { request_ = nullptr; }
  const void* watched() const noexcept { return request_; }
  steady_clock::duration running(steady_clock::time_point now) const noexcept {
    return now - started_;
  }

  // Strand: whether each is due by `now`, once per request.
  bool take_slow(steady_clock::time_point now) noexcept { return take(slow_, b_.slow, now); }
  // Stuck: the handler is cut now, and has `grace` from now to return.
  bool take_stuck(steady_clock::time_point now) noexcept {
    if (!take(stuck_, b_.stuck, now)) return false;
    cut_at_ = now;
    return true;
  }
  bool take_crash(steady_clock::time_point now) noexcept {
    if (!request_ || !stuck_ || crash_ || now - cut_at_ < b_.grace) return false;
    crash_ = true;
    return true;
  }

  // Strand: waits for the next instant something may be due for the request
  // watched, unless the timer waits for an earlier one already; `due()` runs
  // on `strand` then.
  void arm(const clock_seam& seam, const boost::asio::any_io_executor& strand,
           const std::function<void()>& due) {
    const auto at = next();
    if (!at || (armed_for_ && *armed_for_ <= *at)) return;
    if (!timer_) timer_ = seam.make_timer(strand);
    armed_for_ = at;
    timer_->wait_until(*at, due);
  }
  // The timer fired: it waits for nothing now.
  void fired() noexcept { armed_for_.reset(); }
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
  bool take(bool& done, const std::optional<steady_clock::duration>& budget,
            steady_clock::time_point now) noexcept {
    if (!request_ || done || !budget || now - started_ < *budget) return false;
    done = true;
    return true;
  }
  std::optional<steady_clock::time_point> next() const noexcept {
    if (!request_) return std::nullopt;
    std::optional<steady_clock::time_point> at;
    const auto consider = [&](bool done, const std::optional<steady_clock::duration>& budget) {
      if (!done && budget && (!at || started_ + *budget < *at)) at = started_ + *budget;
    };
    consider(slow_, b_.slow);
    consider(stuck_, b_.stuck);
    if (stuck_ && !crash_ && (!at || cut_at_ + b_.grace < *at)) at = cut_at_ + b_.grace;
    return at;
  }

  watchdog_budgets b_;
  const void* request_ = nullptr;  // the request in hand
  steady_clock::time_point started_{};
  steady_clock::time_point cut_at_{};                  // when it was found stuck, and cut
  bool slow_ = false, stuck_ = false, crash_ = false;  // noted for the request in hand
  std::optional<steady_clock::time_point> armed_for_;
  std::unique_ptr<time_source::timer> timer_;  // made at the first arm
};

}  // namespace detail
WORKERS_END_NAMESPACE
