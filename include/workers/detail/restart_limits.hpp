#pragma once

// What decides a restart (supervision.hpp): the limits (at most `intensity`
// restarts within any `period`, OTP's), a worker's own or shared by a
// table's workers that restart together, and the backoff between attempts.
// Both on the worker's steady clock.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/supervision.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Any thread (a table's are shared by its workers' strands).
class restart_limits {
 public:
  restart_limits(unsigned intensity, steady_clock::duration period) noexcept
      : intensity_(intensity), period_(period) {}

  // Whether a restart at `now` stays within the limits; if so, it counts.
  bool admit(steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    while (!times_.empty() && now - times_.front() >= period_) times_.pop_front();
    if (times_.size() >= intensity_) return false;
    times_.push_back(now);
    return true;
  }
  unsigned intensity() const noexcept { return intensity_; }
  steady_clock::duration period() const noexcept { return period_; }

 private:
  std::mutex mutex_;
  std::deque<steady_clock::time_point> times_;  // the restarts within the last period
  const unsigned intensity_;
  const steady_clock::duration period_;
};

// The backoff of one worker (its strand): the wait doubles at each restart,
// from `min` to `max`, and starts again from `min` after `reset_after`
// without a restart.
class restart_delay {
 public:
  explicit restart_delay(std::uintptr_t seed) : random_(static_cast<std::uint32_t>(seed)) {}

  steady_clock::duration next(const std::optional<restart_backoff>& b,
                              steady_clock::time_point now) {
    if (!b) return steady_clock::duration::zero();
    if (!last_ || now - *last_ >= b->reset_after)
      current_ = b->min;
    else
      current_ = std::min(current_ * 2, b->max);
    last_ = now;
    auto d = std::min(current_, b->max);
    if (b->jitter > 0) {
      std::uniform_real_distribution<double> spread(-b->jitter, b->jitter);
      d += std::chrono::duration_cast<steady_clock::duration>(d * spread(random_));
    }
    return std::max(d, steady_clock::duration::zero());
  }

 private:
  std::minstd_rand random_;
  steady_clock::duration current_{};
  std::optional<steady_clock::time_point> last_;
};

// The limits a table's workers share, if its strategy restarts them together.
inline std::shared_ptr<restart_limits> group_limits_of(const table_supervision& s) {
  if (s.strategy == supervision_strategy::one_for_one) return nullptr;
  if (s.period <= steady_clock::duration::zero())
    throw std::invalid_argument("workers: table_supervision::period must be positive");
  return std::make_shared<restart_limits>(s.intensity, s.period);
}

}  // namespace detail
WORKERS_END_NAMESPACE
