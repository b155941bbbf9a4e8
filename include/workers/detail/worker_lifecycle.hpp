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
//   restart_                  begin_close (a restart), launched (an incarnation),
//                             restart_scheduled, add_restart_errors, relaunch_failed
//   terms_, asked_            begin_close (tightened only), escalate (the deadline)
//   completion_waiters_,      wait_closed (any thread), take_completion_waiters (the end)
//   report_waiters_, report_
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
#include <workers/shutdown_report.hpp>
#include <workers/status.hpp>

#include <boost/assert.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// The terms of a close: its mode and its deadline (steady, for the timer;
// wall, for the status), tightened by each shutdown, never loosened.
struct close_terms {
  shutdown_mode mode = shutdown_mode::abort;
  std::optional<steady_clock::time_point> deadline;
  std::optional<clock::time_point> deadline_wall;

  // Tightens these terms by `t`; whether they changed.
  bool tighten(const close_terms& t) noexcept {
    bool changed = false;
    if (t.mode > mode) {
      mode = t.mode;
      changed = true;
    }
    if (t.deadline && (!deadline || *t.deadline < *deadline)) {
      deadline = t.deadline;
      deadline_wall = t.deadline_wall;
      changed = true;
    }
    return changed;
  }
};

// What a request to close did: began the close, tightened the one in
// progress (the strand must apply the new terms), began a restart
// (launch_options::restart), or nothing.
enum class close_request : std::uint8_t { began, tightened, restarting, unchanged };

// The worker's restarts so far, and the one in progress (restarting phase).
struct restart_record {
  std::uint32_t attempt = 0;     // restarts begun so far
  std::size_t incarnations = 1;  // launches that gave a state, counting the first
  clock::time_point since{};     // when the restart in progress began
  close_cause cause = close_cause::handler_exception;  // why the last incarnation ended
  std::optional<error_list> errors;                    // its crash errors, if any
  std::optional<clock::time_point> next_at;            // its backoff's end, while it waits
};

// The answer of a `shutdown` that asked for a report.
using report_value = std::tuple<error_code, shutdown_report>;

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
    worker_status s = status_of(phase_.load(std::memory_order_relaxed), born_, since_, reason_);
    if (auto* c = std::get_if<closing>(&s)) {
      c->mode = terms_.mode;
      c->deadline = terms_.deadline_wall;
    } else if (auto* r = std::get_if<restarting>(&s)) {
      r->attempt = restart_->attempt;  // made when the restart began
      r->last_errors = restart_->errors;
      r->next_attempt = restart_->next_at;
    }
    return s;
  }
  // Launches that gave a state so far, the first included.
  std::size_t incarnations() const {
    std::lock_guard lock(mutex());
    return restart_ ? restart_->incarnations : 1;
  }
  // Restarts begun so far, and why the last incarnation ended (none before
  // the first restart): what on_launch may read.
  std::uint32_t restarts() const {
    std::lock_guard lock(mutex());
    return restart_ ? restart_->attempt : 0;
  }
  std::optional<close_reason> last_close_reason() const {
    std::lock_guard lock(mutex());
    if (!restart_) return std::nullopt;
    return close_reason{restart_->cause, restart_->errors};
  }
  // The close's terms now (strand: the mode is read without the lock).
  shutdown_mode mode() const noexcept { return mode_.load(std::memory_order_acquire); }
  close_terms terms() const {
    std::lock_guard lock(mutex());
    return terms_;
  }
  shutdown_mode asked() const {
    std::lock_guard lock(mutex());
    return asked_;
  }
  // When the close began, on the steady clock.
  steady_clock::time_point began() const {
    std::lock_guard lock(mutex());
    return began_;
  }
  close_reason reason() const {
    std::lock_guard lock(mutex());
    return reason_locked();
  }
  std::optional<error_list> crash_errors() const {
    std::lock_guard lock(mutex());
    return reason_.crash_errors();
  }

  // The close begins for `cause` on `terms` (a shutdown's; abort for any
  // other cause): from now on work is refused. If it had begun already,
  // `errors` are added to the crash errors (the first cause stays the
  // close's) and `terms` tighten those of the close in progress; a close
  // that has ended is not tightened.
  //
  // `restarts`: the worker's restart policy restarts it after this end. A
  // running worker then begins a restart instead (the phase becomes
  // restarting, work is still accepted); a restarting one adds `errors` to
  // the restart's. Any other end of a restarting worker begins its close.
  close_request begin_close(close_cause cause, std::optional<error_list> errors,
                            clock::time_point now, steady_clock::time_point steady_now,
                            const close_terms& terms, bool restarts = false) {
    std::lock_guard lock(mutex());
    const bool by_shutdown = cause == close_cause::shutdown;
    const phase p = phase_.load(std::memory_order_relaxed);
    if (restarts && (p == phase::running || p == phase::restarting)) {
      if (p == phase::restarting) {
        add_restart_errors_locked(std::move(errors));
        return close_request::unchanged;
      }
      if (!restart_) restart_ = std::make_unique<restart_record>();
      ++restart_->attempt;
      restart_->since = now;
      restart_->cause = cause;
      restart_->errors = std::move(errors);
      restart_->next_at.reset();
      transition_locked(phase::restarting, now);
      return close_request::restarting;
    }
    if (detail::refuses_work(p)) {
      if (errors) reason_.add(std::move(*errors));
      if (has_ended(p)) return close_request::unchanged;
      if (by_shutdown) asked_ = stronger(asked_, terms.mode);
      if (!terms_.tighten(terms)) return close_request::unchanged;
      mode_.store(terms_.mode, std::memory_order_release);
      return close_request::tightened;
    }
    reason_ = kept_reason{};  // the cause of the close replaces a crash's
    reason_.set(cause, std::move(errors));
    terms_ = terms;
    asked_ = terms.mode;
    began_ = steady_now;
    mode_.store(terms.mode, std::memory_order_release);
    transition_locked(phase::closing, now);
    return close_request::began;
  }

  // The deadline expired (strand): the close becomes an abort. The mode it
  // had, or none if it was one already.
  std::optional<shutdown_mode> escalate() {
    std::lock_guard lock(mutex());
    const shutdown_mode was = terms_.mode;
    if (was == shutdown_mode::abort) return std::nullopt;
    terms_.mode = shutdown_mode::abort;
    mode_.store(shutdown_mode::abort, std::memory_order_release);
    return was;
  }

  void add_crash_errors(error_list errors) {
    if (errors.empty()) return;
    std::lock_guard lock(mutex());
    reason_.add(std::move(errors));
  }

  // The launch gave the state: running, unless a close began meanwhile. A
  // restart's launch counts one more incarnation.
  void launched(clock::time_point now) {
    std::lock_guard lock(mutex());
    const phase p = phase_.load(std::memory_order_relaxed);
    if (p == phase::restarting) ++restart_->incarnations;
    if (p == phase::launching || p == phase::restarting) transition_locked(phase::running, now);
  }

  // The restart in progress (the strand, while restarting: the record
  // exists): its next launch at `at` (none: it starts now), errors of a
  // failed launch of it, why it began.
  void restart_scheduled(std::optional<clock::time_point> at) {
    std::lock_guard lock(mutex());
    restart_->next_at = at;
  }
  void add_restart_errors(error_list errors) {
    std::lock_guard lock(mutex());
    add_restart_errors_locked(std::move(errors));
  }
  // A restart's on_launch failed: one more restart, for that.
  void relaunch_failed(error_list errors) {
    std::lock_guard lock(mutex());
    ++restart_->attempt;
    restart_->cause = close_cause::launch_failed;
    add_restart_errors_locked(std::move(errors));
  }
  restart_record restart() const {
    std::lock_guard lock(mutex());
    return *restart_;
  }

  // The close ended with `report`: closed. Returns why.
  close_reason closed(clock::time_point now, const shutdown_report& report) {
    std::lock_guard lock(mutex());
    report_ = report;
    transition_locked(phase::closed, now);
    return reason_locked();
  }

  // The execution context dies: a live worker is abandoned, closed as crashed
  // (its cause is the context's unless one was set). False if it had ended.
  bool abandon(clock::time_point now) {
    std::lock_guard lock(mutex());
    if (has_ended(phase_.load(std::memory_order_relaxed))) return false;
    if (!reason_.has_value()) reason_.set(close_cause::context_destroyed, std::nullopt);
    reason_.add({"abandoned: its execution context was destroyed"});
    report_.reached = report_.asked = shutdown_mode::abort;
    transition_locked(phase::abandoned, now);
    return true;
  }

  // Answers `w` once the worker has ended: it is kept until then, or
  // answered at once (posted) if it has. A waiter<error_code>, or a
  // waiter<report_value> if `with_report`.
  void wait_closed(waiter_ptr w, bool with_report = false) {
    waiter_ptr swept;  // destroyed after the lock is released
    shutdown_report report;
    {
      std::lock_guard lock(mutex());
      if (!has_ended(phase_.load(std::memory_order_relaxed))) {
        // Newest first. A caller that gave up stays listed until the close
        // unless it is among the newest: a new caller drops those first, so
        // repeated timed waits do not grow the list.
        waiter_ptr& chain = with_report ? report_waiters_ : completion_waiters_;
        while (chain && chain->gave_up()) {
          waiter_ptr gone = std::exchange(chain, chain->take_next());
          gone->append(std::move(swept));
          swept = std::move(gone);
        }
        w->append(std::move(chain));
        chain = std::move(w);
        return;
      }
      report = report_;
    }
    if (with_report)
      typed<report_value>(w)->answer({error_code{}, report});
    else
      typed<error_code>(w)->answer(error_code{});
  }
  // At the end: those waiting (a chain each, newest first), with the report.
  struct end_waiters {
    waiter_ptr completion;  // waiter<error_code>
    waiter_ptr report;      // waiter<report_value>
    shutdown_report value;
  };
  end_waiters take_completion_waiters() {
    std::lock_guard lock(mutex());
    return {std::move(completion_waiters_), std::move(report_waiters_), report_};
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
  close_reason reason_locked() const {
    close_reason r = reason_.get();
    r.mode = terms_.mode;
    return r;
  }

  void add_restart_errors_locked(std::optional<error_list> errors) {
    if (!errors || errors->empty()) return;
    if (!restart_->errors) restart_->errors.emplace();
    for (auto& e : *errors) restart_->errors->push_back(std::move(e));
  }

  // The one place the phase changes (under the lock).
  void transition_locked(phase to, clock::time_point now) {
    BOOST_ASSERT_MSG(legal_transition(phase_.load(std::memory_order_relaxed), to),
                     "workers: illegal lifecycle transition");
    phase_.store(to, std::memory_order_seq_cst);  // see the loop's park
    since_ = now;
  }

  std::atomic<phase> phase_{phase::launching};
  std::atomic<shutdown_mode> mode_{shutdown_mode::abort};  // terms_.mode, for the strand
  shutdown_mode asked_ = shutdown_mode::abort;
  bool hooks_ran_ = false;
  const clock::time_point born_;
  clock::time_point since_;
  kept_reason reason_;
  std::unique_ptr<restart_record> restart_;  // from the first restart on
  close_terms terms_;
  steady_clock::time_point began_{};  // the close's start
  shutdown_report report_;            // once ended
  waiter_ptr completion_waiters_;     // a chain (waiter_base::next), newest first
  waiter_ptr report_waiters_;         // the same, for shutdowns that asked for a report
  std::unique_ptr<canceler_type> canceler_;
};

}  // namespace detail
WORKERS_END_NAMESPACE
