#pragma once

// The one place the library reads the time or waits on it (see
// <workers/time_source.hpp>). A worker keeps the seam of its table: with no
// source, the real clocks, read inline (a test of a pointer); with one, the
// source. Stamps are taken on the steady clock, read once where a request
// needs a time (its push, its take, its end); the wall time a person reads is
// derived from a steady stamp when asked (`wall_of`), through an anchor pair
// (steady, precise wall) that each thread reads again once a second, so that
// no push or take reads two clocks. A request's stamps may come from the
// kernel's coarse monotonic clock (`stamp_now`): the same clock as the steady
// one, read from the last tick, never ahead of it, for a sixth of the cost of
// a precise read on a VM's kvm-clock (4 ns against 25).

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// The real steady clock's timer: an asio::steady_timer.
class asio_timer final : public time_source::timer {
 public:
  explicit asio_timer(const boost::asio::any_io_executor& ex) : timer_(ex) {}
  void wait_until(steady_clock::time_point at, std::function<void()> due) override {
    timer_.expires_at(at);  // a wait in progress completes aborted: its `due` does not run
    timer_.async_wait([due = std::move(due)](const boost::system::error_code& ec) {
      if (!ec) due();
    });
  }
  void cancel() noexcept override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

class clock_seam {
 public:
  explicit clock_seam(time_source* source = nullptr) noexcept : source_(source) {}

  WORKERS_ALWAYS_INLINE steady_clock::time_point steady_now() const noexcept {
    if (source_) [[unlikely]]
      return source_->steady_now();
    return steady_read();
  }
  // A request's stamp: precise, or of the kernel tick's resolution (1 to 4 ms
  // on Linux; precise where the platform has no coarse clock).
  WORKERS_ALWAYS_INLINE steady_clock::time_point stamp_now(bool precise) const noexcept {
    if (source_) [[unlikely]]
      return source_->steady_now();
    return precise ? steady_read() : coarse_read();
  }
  WORKERS_ALWAYS_INLINE clock::time_point wall_now() const noexcept {
    if (source_) [[unlikely]]
      return source_->wall_now();
    return clock::now();
  }

  // The wall time of the steady stamp `t`, given the steady time `now`.
  clock::time_point wall_of(steady_clock::time_point t,
                            steady_clock::time_point now) const noexcept {
    if (source_) [[unlikely]]
      return source_->wall_now() - std::chrono::duration_cast<clock::duration>(now - t);
    // The anchor's wall time is read precisely: mapped stamps then never fall
    // behind a coarse reading taken before them (the coarse clock lags by up to a tick).
    thread_local anchor a;
    if (now - a.steady > std::chrono::seconds(1) || now < a.steady)
      a = {now, std::chrono::system_clock::now()};
    return a.wall - std::chrono::duration_cast<clock::duration>(a.steady - t);
  }
  clock::time_point wall_of(steady_clock::time_point t) const noexcept {
    return wall_of(t, steady_now());
  }

  // A timer whose `due` functions run on `ex`.
  std::unique_ptr<time_source::timer> make_timer(const boost::asio::any_io_executor& ex) const {
    if (source_) return source_->make_timer(ex);
    return std::make_unique<asio_timer>(ex);
  }

 private:
  // steady_clock::now(), inline: libstdc++'s steady_clock reads CLOCK_MONOTONIC,
  // through a call into the library that adds a fifth to a read, twice per request.
  WORKERS_ALWAYS_INLINE static steady_clock::time_point steady_read() noexcept {
#if defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CLOCK_MONOTONIC) && defined(CLOCK_MONOTONIC)
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return steady_clock::time_point(std::chrono::duration_cast<steady_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#else
    return steady_clock::now();
#endif
  }

  WORKERS_ALWAYS_INLINE static steady_clock::time_point coarse_read() noexcept {
#if defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CLOCK_MONOTONIC) && defined(CLOCK_MONOTONIC_COARSE)
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return steady_clock::time_point(std::chrono::duration_cast<steady_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#else
    return steady_read();
#endif
  }

  struct anchor {
    steady_clock::time_point steady{};
    clock::time_point wall{};
  };
  time_source* source_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
