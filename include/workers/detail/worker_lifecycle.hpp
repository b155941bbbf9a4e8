#pragma once

// A worker's life as the threads around it see it (the values: lifecycle.hpp),
// in one place: its phase, when it was born and last changed, why it closes,
// who waits for its end, and its canceler. Any thread reads it; one function
// writes each field, under its lock (one of a pool: lock_pool.hpp; nothing
// else is locked or called while it is held):
//
//   phase_, since_            transition_locked
//   reason_                   begin_close (the cause), add_crash_errors (errors),
//                             abandon (the cause if none, and its error)
//   completion_waiters_       wait_closed (any thread), take_completion_waiters (the end)
//   canceler_, hooks_ran_     get_canceler (made on first use), take_canceler_hooks
//
// The close's own steps, on the strand, are in impl/close_sequence.hpp.

#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/lifecycle.hpp>
#include <workers/detail/lock_pool.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/status.hpp>

#include <boost/assert.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

class worker_lifecycle {
 public:
  explicit worker_lifecycle(clock::time_point born) noexcept : born_(born), since_(born) {}
  worker_lifecycle(const worker_lifecycle&) = delete;
  worker_lifecycle& operator=(const worker_lifecycle&) = delete;

  // Any thread.

  phase current() const noexcept { return phase_.load(std::memory_order_acquire); }
  // From the start of the close on: pushes are refused.
  bool refuses_work() const noexcept { return detail::refuses_work(current()); }
  // Read with seq_cst: see the loop's park (impl/run_loop.hpp).
  bool refuses_work_seq_cst() const noexcept {
    return detail::refuses_work(phase_.load(std::memory_order_seq_cst));
  }

  worker_status status() const {
    std::lock_guard lock(mutex());
    return status_of(phase_.load(std::memory_order_relaxed), born_, since_, reason_);
  }
  close_reason reason() const {
    std::lock_guard lock(mutex());
    return reason_.get();
  }
  std::optional<error_list> crash_errors() const {
    std::lock_guard lock(mutex());
    return reason_.crash_errors();
  }

  // The close begins for `cause`: from now on work is refused. False if it
  // had begun already: `errors` are then added to the crash errors (the first
  // cause stays the close's).
  bool begin_close(close_cause cause, std::optional<error_list> errors, clock::time_point now) {
    std::lock_guard lock(mutex());
    if (detail::refuses_work(phase_.load(std::memory_order_relaxed))) {
      if (errors) reason_.add(std::move(*errors));
      return false;
    }
    reason_ = kept_reason{};  // the cause of the close replaces a crash's
    reason_.set(cause, std::move(errors));
    transition_locked(phase::closing, now);
    return true;
  }

  void add_crash_errors(error_list errors) {
    if (errors.empty()) return;
    std::lock_guard lock(mutex());
    reason_.add(std::move(errors));
  }

  // The launch gave the state: running, unless a close began meanwhile.
  void launched(clock::time_point now) {
    std::lock_guard lock(mutex());
    if (phase_.load(std::memory_order_relaxed) == phase::launching)
      transition_locked(phase::running, now);
  }

  // The close ended: closed. Returns why.
  close_reason closed(clock::time_point now) {
    std::lock_guard lock(mutex());
    transition_locked(phase::closed, now);
    return reason_.get();
  }

  // The execution context dies: a live worker is abandoned, closed as crashed
  // (its cause is the context's unless one was set). False if it had ended.
  bool abandon(clock::time_point now) {
    std::lock_guard lock(mutex());
    if (has_ended(phase_.load(std::memory_order_relaxed))) return false;
    if (!reason_.has_value()) reason_.set(close_cause::context_destroyed, std::nullopt);
    reason_.add({"abandoned: its execution context was destroyed"});
    transition_locked(phase::abandoned, now);
    return true;
  }

  // Answers `w` (a waiter<error_code>) once the worker has ended: it is kept
  // until then, or answered at once (posted) if it has.
  void wait_closed(waiter_ptr w) {
    waiter_ptr swept;  // destroyed after the lock is released
    {
      std::lock_guard lock(mutex());
      if (!has_ended(phase_.load(std::memory_order_relaxed))) {
        // Newest first. A caller that gave up stays listed until the close
        // unless it is among the newest: a new caller drops those first, so
        // repeated timed waits do not grow the list.
        while (completion_waiters_ && completion_waiters_->gave_up()) {
          waiter_ptr gone = std::exchange(completion_waiters_, completion_waiters_->take_next());
          gone->append(std::move(swept));
          swept = std::move(gone);
        }
        w->append(std::move(completion_waiters_));
        completion_waiters_ = std::move(w);
        return;
      }
    }
    typed<error_code>(w)->answer(error_code{});
  }
  // At the end: those waiting, newest first (a chain).
  waiter_ptr take_completion_waiters() {
    std::lock_guard lock(mutex());
    return std::move(completion_waiters_);
  }

  // Made on first use: most workers never hand theirs out. One made after the
  // hooks ran runs its hooks at once.
  canceler_type get_canceler() {
    std::lock_guard lock(mutex());
    if (!canceler_) canceler_ = std::make_unique<canceler_type>(access::make_canceler(hooks_ran_));
    return *canceler_;
  }
  // At the end: the canceler whose hooks must run, if one was handed out.
  std::optional<canceler_type> take_canceler_hooks() {
    std::lock_guard lock(mutex());
    hooks_ran_ = true;
    if (!canceler_) return std::nullopt;
    return *canceler_;
  }

 private:
  std::mutex& mutex() const noexcept { return lock_pool::for_object(this); }

  // The one place the phase changes (under the lock).
  void transition_locked(phase to, clock::time_point now) {
    BOOST_ASSERT_MSG(legal_transition(phase_.load(std::memory_order_relaxed), to),
                     "workers: illegal lifecycle transition");
    phase_.store(to, std::memory_order_seq_cst);  // see the loop's park
    since_ = now;
  }

  std::atomic<phase> phase_{phase::launching};
  bool hooks_ran_ = false;
  const clock::time_point born_;
  clock::time_point since_;
  kept_reason reason_;
  waiter_ptr completion_waiters_;  // a chain (waiter_base::next), newest first
  std::unique_ptr<canceler_type> canceler_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
