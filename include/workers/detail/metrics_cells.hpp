#pragma once

// The cells behind `worker_metrics`. Those only the worker's strand writes
// are bumped with a load and a store (no read-modify-write: one writer); the
// others (refusals come from any thread) with fetch_add. Any thread reads them.

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/metrics.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// One writer: no lock prefix on the hot path.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class histogram_cells {
 public:
  void observe(steady_clock::duration d) noexcept {  // strand only
    const auto ns = d.count() < 0
                        ? std::uint64_t{0}
                        : static_cast<std::uint64_t>(
                              std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    std::size_t i = 0;
    while (i < bounds_ns.size() && ns > bounds_ns[i]) ++i;
    bump(buckets_[i]);
    bump(sum_ns_, ns);
  }
  histogram snapshot() const noexcept {
    histogram h;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      h.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      h.count += h.buckets[i];
    }
    h.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
    return h;
  }

 private:
  static constexpr auto bounds_ns = [] {
    std::array<std::uint64_t, histogram::bounds.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<std::uint64_t>(histogram::bounds[i] * 1e9 + 0.5);
    return out;
  }();
  std::array<std::atomic<std::uint64_t>, histogram::bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

struct metrics_cells {
  std::atomic<std::uint64_t> handled{0}, failed{0}, crashed{0};                      // strand
  std::atomic<std::uint64_t> dropped{0}, cancelled{0}, refused{0}, queue_alarms{0};  // any thread
  std::atomic<std::uint64_t> slow{0}, stuck{0}, escalations{0}, restarts{0};         // strand
  histogram_cells queue_wait, service_time;                                          // strand

  // A request's service ends when the worker takes its next one, parks,
  // yields or closes: the steady clock read done then is the completion time,
  // so metrics add no clock read per request (strand only).
  void start_service(steady_clock::time_point pushed, steady_clock::time_point treated) noexcept {
    queue_wait.observe(treated - pushed);
    serving_ = true;
    serving_since_ = treated;
  }
  void end_service(steady_clock::time_point now) noexcept {
    if (std::exchange(serving_, false)) service_time.observe(now - serving_since_);
  }
  // A request taken but skipped (its callers gave up): never served.
  void skip_service() noexcept { serving_ = false; }
  static void add(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
  }

  worker_metrics snapshot(std::size_t queue_length, std::size_t in_flight) const noexcept {
    worker_metrics m;
    m.handled = handled.load(std::memory_order_relaxed);
    m.failed = failed.load(std::memory_order_relaxed);
    m.crashed = crashed.load(std::memory_order_relaxed);
    m.dropped = dropped.load(std::memory_order_relaxed);
    m.cancelled = cancelled.load(std::memory_order_relaxed);
    m.refused = refused.load(std::memory_order_relaxed);
    m.queue_alarms = queue_alarms.load(std::memory_order_relaxed);
    m.slow = slow.load(std::memory_order_relaxed);
    m.stuck = stuck.load(std::memory_order_relaxed);
    m.shutdown_escalations = escalations.load(std::memory_order_relaxed);
    m.restarts = restarts.load(std::memory_order_relaxed);
    m.queue_length = queue_length;
    m.in_flight = in_flight;
    m.queue_wait = queue_wait.snapshot();
    m.service_time = service_time.snapshot();
    return m;
  }

 private:
  bool serving_ = false;  // strand only
  steady_clock::time_point serving_since_{};
};

}  // namespace detail
WORKERS_END_NAMESPACE
