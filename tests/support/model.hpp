#pragma once

// Model-based testing: a reference model of one worker (plain, single-threaded,
// written from the SPEC's rules, not from the library's code) and a driver that
// runs the same operations on the real library, on a single-threaded
// io_context run to quiescence after each operation, so that both are
// deterministic. After every operation the driver compares what each caller
// was answered, the handled history, the status and the pending count.
//
// Shared by the model test (random sequences from seeds) and the fuzz target
// (sequences decoded from bytes).

#include "support/calc.hpp"

#include <workers/testing.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace test::model {

enum class kind : std::uint8_t { infinite, bounded, dropbox };

enum class op_kind : std::uint8_t {
  push,          // fire and forget: push_request_now / try_push_request_now / put_request
  push_async,    // push_request (waits for room on a full bounded queue); put_request on a dropbox
  push_wait,     // push_request_and_wait / put_request_and_wait
  cancel,        // cancels the arg-th caller (terminal)
  release,       // lets the hold in flight finish
  trigger,       // trigger_shutdown
  shutdown,      // shutdown (a caller)
  wait,          // wait_for_completion (a caller)
  state,         // with_state reading the state (a caller)
  state_throws,  // with_state whose function throws (a caller)
  hook,          // canceler(w).on_cancel(a hook that counts)
  hook_throws,   // canceler(w).on_cancel(a hook that counts, then throws)
  defer_wait,    // push_request_and_wait / put_request_and_wait made with deferred, not launched
  defer_shutdown,   // shutdown made with deferred, not launched
  launch_deferred,  // launches the oldest deferred operation not launched yet
  push_probe,       // fire and forget an add whose destructor calls the worker's introspection
  shutdown_mode,    // shutdown(w, mode, deadline) (a caller answered with the report)
  trigger_mode,     // trigger_shutdown(w, mode, deadline)
  advance,          // the manual clock moves arg seconds
  count
};

// The mode and the deadline (seconds; 0: none) an operation's arg encodes.
inline workers::shutdown_mode mode_of(std::uint8_t arg) {
  return static_cast<workers::shutdown_mode>(arg % 3);
}
inline int deadline_of(std::uint8_t arg) {
  static constexpr int deadlines[] = {0, 1, 2, 4};
  return deadlines[(arg / 3) % 4];
}

// hold waits for a release; patient is a hold that sees its caller's cancellation
// (cancel_with_caller) and returns all the same, its result discarded.
// urgent is a control request: an add taken before every ordinary request waiting.
enum class req_kind : std::uint8_t {
  add,
  proceed,
  stop,
  crash,
  boom,
  hold,
  patient,
  urgent,
  count
};

struct op {
  op_kind what = op_kind::push;
  req_kind req = req_kind::add;
  std::uint8_t arg = 0;  // add: the amount; cancel: which caller
};

struct sequence {
  kind k = kind::infinite;
  std::size_t capacity = 1;   // bounded
  int launch_pushes = 0;      // adds (1, 2, ...) that on_launch pushes to its own worker
  bool drop_context = false;  // end by destroying the io_context instead of shutting down
  // Supervision: the policy, its intensity within 5 s, the backoff (seconds,
  // fixed; 0: none), and how many restarts' on_launch throw first.
  workers::restart_policy restart = workers::restart_policy::temporary;
  int intensity = 1;
  int backoff = 0;
  int relaunch_failures = 0;
  std::vector<op> ops;
};

// Whether the operation carries a request.
constexpr bool has_request(op_kind k) {
  return k == op_kind::push || k == op_kind::push_async || k == op_kind::push_wait ||
         k == op_kind::defer_wait;
}

inline std::string describe(const op& o) {
  static constexpr const char* ops[] = {
      "push",       "push_async",    "push_wait",    "cancel",         "release",
      "trigger",    "shutdown",      "wait",         "state",          "state_throws",
      "hook",       "hook_throws",   "defer_wait",   "defer_shutdown", "launch_deferred",
      "push_probe", "shutdown_mode", "trigger_mode", "advance"};
  static constexpr const char* reqs[] = {"add",  "proceed", "stop",    "crash",
                                         "boom", "hold",    "patient", "urgent"};
  if (o.what == op_kind::cancel) return fmt::format("cancel #{}", o.arg);
  if (o.what == op_kind::advance) return fmt::format("advance {}s", o.arg);
  if (o.what == op_kind::shutdown_mode || o.what == op_kind::trigger_mode)
    return fmt::format("{} {} {}s", ops[static_cast<int>(o.what)],
                       workers::to_string(mode_of(o.arg)), deadline_of(o.arg));
  if (o.what == op_kind::push_probe) return fmt::format("push_probe add {}", o.arg);
  if (!has_request(o.what)) return ops[static_cast<int>(o.what)];
  if (o.req == req_kind::add || o.req == req_kind::urgent)
    return fmt::format("{} {} {}", ops[static_cast<int>(o.what)], reqs[static_cast<int>(o.req)],
                       o.arg);
  return fmt::format("{} {}", ops[static_cast<int>(o.what)], reqs[static_cast<int>(o.req)]);
}

inline std::string describe(const sequence& s) {
  static constexpr const char* kinds[] = {"infinite", "bounded", "dropbox"};
  std::vector<std::string> ops;
  for (const auto& o : s.ops) ops.push_back(describe(o));
  return fmt::format(
      "{}{}{}{}{} [{}]", kinds[static_cast<int>(s.k)],
      s.k == kind::bounded ? fmt::format("({})", s.capacity) : "",
      s.launch_pushes ? fmt::format(", on_launch pushes {}", s.launch_pushes) : "",
      s.drop_context ? ", context dropped at the end" : "",
      s.restart == workers::restart_policy::temporary
          ? ""
          : fmt::format(", {} {} in 5s, backoff {}s, {} failed relaunches",
                        workers::to_string(s.restart), s.intensity, s.backoff, s.relaunch_failures),
      fmt::join(ops, "; "));
}

// The reference model.

class reference {
 public:
  explicit reference(const sequence& s)
      : kind_(s.k),
        capacity_(s.capacity),
        policy_(s.restart),
        intensity_(s.intensity),
        backoff_(s.backoff),
        relaunch_failures_(s.relaunch_failures) {}

  struct request {
    req_kind r;
    int amount;
    std::vector<int> callers;  // waiting callers (a dropbox request may have several)
  };

  // What each caller is answered, by caller number.
  std::vector<std::optional<std::string>> answers;
  std::vector<std::string> history;
  int closes = 0;

  // Every request's one outcome, as the worker's metrics and events count it:
  // handled (of which failed, crashed, and threw: the handler's exception),
  // cancelled (every caller gave up first; of which discarded: the handler ran
  // to its end, request_cancelled{handled = true}), dropped, refused.
  struct outcomes {
    std::uint64_t handled = 0, failed = 0, crashed = 0, threw = 0, cancelled = 0, dropped = 0,
                  refused = 0, discarded = 0;
    friend bool operator==(const outcomes&, const outcomes&) = default;
  };
  outcomes counted;
  // Closes whose deadline escalated them (shutdown_escalated).
  std::uint64_t escalations = 0;
  // Supervision: restarts begun (restarting, workers_restarts_total), their
  // launches that gave a state (restarted), the limit reached.
  std::uint64_t restarts = 0, restarted = 0, limits = 0;
  bool restarting() const { return restarting_; }

  // The close has ended (closed status).
  bool closed() const { return ended_; }
  // The status's crash errors: the close's own, or a canceler hook that threw.
  bool crashed() const { return crashed_ || hook_threw_; }
  int hook_runs() const { return hook_runs_; }
  // Requests waiting that someone wants: a queued request whose caller gave
  // up leaves the count (and its place in a bounded queue) at once; a control
  // request counts until the worker takes it.
  std::size_t pending() const {
    if (sealed_) return 0;
    return (kind_ == kind::dropbox ? (slot_ ? 1 : 0) : live()) + control_.size();
  }
  // The hold in flight, by the id it was pushed with (its `amount`), if any.
  std::optional<int> hold_in_flight() const {
    if (!in_flight_) return std::nullopt;
    return in_flight_->amount;
  }

  // A caller; one made with `deferred` is launched later (until then nothing reaches it).
  int new_caller(bool launched = true) {
    answers.emplace_back();
    launched_.push_back(launched);
    return static_cast<int>(answers.size()) - 1;
  }
  void launch(int caller) { launched_[caller] = true; }
  bool launched(int caller) const { return launched_[caller]; }

  // on_launch pushes adds 1..n to its own worker, before the loop runs (at
  // each launch: a restart's too).
  void launch_pushes(int n) {
    launch_pushes_ = n;
    for (int i = 1; i <= n; ++i)
      if (kind_ != kind::bounded || !must_wait()) enqueue({req_kind::add, i, {}});
    run();
  }

  // Fire-and-forget push: whether it was taken.
  bool push(req_kind r, int amount) {
    if (closing_) {
      ++counted.refused;
      return false;
    }
    if (waits_for_room(r)) return false;
    enqueue({r, amount, {}});
    run();
    return true;
  }

  // push_request: a caller completing with "push:true/false/aborted".
  void push_async(int caller, req_kind r, int amount) {
    if (closing_) {
      ++counted.refused;
      return answer(caller, "push:false");
    }
    if (waits_for_room(r)) {
      blocked_.push_back({{r, amount, {}}, caller});
      return;
    }
    enqueue({r, amount, {}});
    answer(caller, "push:true");
    run();
  }

  void push_wait(int caller, req_kind r, int amount) {
    if (closing_) {
      ++counted.refused;
      return answer(caller, closed_text());
    }
    if (waits_for_room(r)) {
      blocked_.push_back({{r, amount, {caller}}, -1});
      return;
    }
    enqueue({r, amount, {caller}});
    run();
  }

  void cancel(int caller) {
    if (caller < 0 || caller >= static_cast<int>(answers.size()) || answers[caller]) return;
    if (!launched_[caller]) return;  // no operation yet: nothing listens to the signal
    const bool special = caller < static_cast<int>(cancel_text_.size()) && cancel_text_[caller];
    answer(caller, special ? *cancel_text_[caller] : "cancelled");
    // A patient hold in flight hears that its caller gave up, and returns: its
    // result is discarded (counted cancelled).
    if (in_flight_ && in_flight_->r == req_kind::patient && abandoned(*in_flight_)) {
      finish_hold();
      after_hold();
      return;
    }
    // A queued request's caller gave up: its place frees, producers waiting
    // for room come in.
    if (kind_ == kind::bounded && !sealed_)
      for (const auto& r : queue_)
        if (!r.callers.empty() && r.callers[0] == caller) {
          admit();
          run();
          break;
        }
  }

  void release() {
    if (!in_flight_) return;
    finish_hold();
    after_hold();
  }

  // trigger_shutdown / shutdown: an abort; with a mode and a deadline (seconds, 0: none).
  void trigger(workers::shutdown_mode mode = workers::shutdown_mode::abort, int deadline = 0) {
    begin_close(mode, deadline, true, false);
  }
  // The manual clock moves one second: half-way, the watchdog (a hold in
  // flight is slow 1.5 s after its take, stuck and cut at 2.5 s); at its end,
  // a deadline reached escalates the close to an abort. The cut hold returns
  // after both (its completion is posted after the timers that fired).
  void advance_second() {
    const bool watched = in_flight_ && !watch_cut_;
    if (watched && !slow_noted_ && 2 * (now_ - in_flight_started_) + 1 >= 3) {
      slow_noted_ = true;
      ++slow_events;
    }
    if (watched && 2 * (now_ - in_flight_started_) + 1 >= 5) {
      ++stuck_events;
      watch_cut_ = true;
    }
    ++now_;
    if (restarting_ && now_ >= next_launch_at_) relaunch();
    if (closing_ && !ended_ && deadline_ && now_ >= *deadline_) {
      expired_ = true;
      if (mode_ != workers::shutdown_mode::abort) ++escalations;
      mode_ = workers::shutdown_mode::abort;
      apply();
    }
    if (watch_cut_) finish_watch_cut();
  }
  // Watchdog events, as the sink and the metrics count them.
  std::uint64_t slow_events = 0, stuck_events = 0;
  // with_state: the state until the close ended, none after (nor while a
  // restart waits for its next launch).
  void state(int caller, bool throws) {
    if (ended_ || !has_state_) return answer(caller, "state:none");
    answer(caller, throws ? "state:threw" : fmt::format("state:{}", sum_));
  }
  // A canceler hook: runs at the close's end, or at once if it ended already.
  void hook(bool throws) {
    if (ended_) {
      ++hook_runs_;
      return;
    }
    ++hooks_waiting_;
    hooks_throw_ = hooks_throw_ || throws;
  }
  // The execution context is destroyed: callers not answered yet never are; the hooks run.
  void abandon() {
    if (ended_) return;
    closing_ = ended_ = sealed_ = true;
    restarting_ = false;
    crashed_ = true;
    if (in_flight_) count_unhandled(*in_flight_);
    for (auto& r : control_) count_unhandled(r);
    for (auto& r : queue_) count_unhandled(r);
    if (slot_) count_unhandled(*slot_);
    for (auto& b : blocked_) count_unhandled(b);
    run_hooks();
  }
  void wait(int caller, bool with_report = false) {
    cancel_text_.resize(answers.size());
    cancel_text_[caller] = with_report ? "report:aborted" : "aborted";
    if (ended_)
      answer(caller, with_report ? report_ : "done");
    else
      (with_report ? report_waiters_ : completion_).push_back(caller);
  }
  // Cancelling a push waiting for room, or a wait, answers differently.
  void note_push_caller(int caller) {
    cancel_text_.resize(answers.size());
    cancel_text_[caller] = "push:aborted";
  }

 private:
  struct blocked_push {
    request r;
    int push_caller;  // -1 for a push_wait, whose caller rides in r.callers
  };

  // A bounded queue's push waits for room; a control request never does.
  bool waits_for_room(req_kind r) const {
    return kind_ == kind::bounded && r != req_kind::urgent && must_wait();
  }

  // The watchdog cut the hold in flight: a hold throws (its caller gets the
  // exception, the worker runs on), a patient one returns 1.
  void finish_watch_cut() {
    watch_cut_ = false;
    if (!in_flight_) return;
    if (in_flight_->r == req_kind::patient) {
      finish_hold();
    } else {
      auto r = std::move(*in_flight_);
      in_flight_.reset();
      in_flight_counted_ = false;
      if (abandoned(r)) {
        ++counted.cancelled;
        ++counted.discarded;
      } else {
        ++counted.handled;
        ++counted.threw;  // no request_no_errors event, and no crash
      }
      for (int c : r.callers) answer(c, "exception");
    }
    after_hold();
  }

  // The hold in flight returns 1: handled, or its result discarded.
  void finish_hold() {
    auto r = std::move(*in_flight_);
    in_flight_.reset();
    in_flight_counted_ = false;
    history.push_back(r.r == req_kind::patient ? "patient" : "hold");
    count_handled(r, false, false);
    for (int c : r.callers) answer(c, "ok:1");
  }
  // After a hold returned: the loop goes on, or the close it waited for.
  void after_hold() {
    if (closing_ && mode_ != workers::shutdown_mode::drain) {
      seal();
      finish();
    } else {
      run();
    }
  }

  bool must_wait() const { return live() >= capacity_ || !blocked_.empty(); }
  bool answered(int c) const { return answers[c].has_value(); }
  // Whether a request's callers all gave up (it has some, each answered).
  bool abandoned(const request& r) const {
    if (r.callers.empty()) return false;
    for (int c : r.callers)
      if (!answered(c)) return false;
    return true;
  }
  bool abandoned(const blocked_push& b) const {
    return b.push_caller >= 0 ? answered(b.push_caller) : abandoned(b.r);
  }
  // Queued requests that someone wants.
  std::size_t live() const {
    std::size_t n = 0;
    for (const auto& r : queue_) n += abandoned(r) ? 0 : 1;
    return n;
  }
  // A request leaves unhandled: cancelled if its callers all gave up, else
  // dropped (answered closed, which the close's report counts).
  template <class R>
  void count_unhandled(const R& r) {
    if (abandoned(r)) {
      ++counted.cancelled;
    } else {
      ++counted.dropped;
      if (closing_ && !ended_) ++answered_closed_;
    }
  }
  // A request's handler ran to its end: handled if someone took its result
  // (or it had no caller), else cancelled, its result discarded.
  bool count_handled(const request& r, bool failed, bool threw) {
    if (abandoned(r)) {
      ++counted.cancelled;
      ++counted.discarded;
      return false;
    }
    ++counted.handled;
    if (failed) ++counted.failed;
    if (threw) {
      ++counted.threw;
      ++counted.crashed;
    }
    return true;
  }
  void answer(int c, std::string what) {
    if (!answers[c]) answers[c] = std::move(what);
  }
  // What a caller refused or drained by the close is told: the crash errors
  // known then (a canceler hook that threw counts once the hooks ran).
  std::string closed_text() const { return crashed() ? "closed:crash" : "closed"; }

  void enqueue(request r) {
    if (r.r == req_kind::urgent) {  // the control lane: no room, no merge
      control_.push_back(std::move(r));
      return;
    }
    if (kind_ != kind::dropbox) {
      queue_.push_back(std::move(r));
      return;
    }
    // The rules of model_merge, one outcome each.
    const auto join = [&](request& into, const request& from) {
      into.callers.insert(into.callers.end(), from.callers.begin(), from.callers.end());
    };
    const auto drop = [&](const request& x) {
      if (x.callers.empty()) return;
      if (abandoned(x))
        ++counted.cancelled;
      else
        ++counted.dropped;
      for (int c : x.callers) answer(c, "dropped");
    };
    if (!slot_ && r.r == req_kind::add && r.amount == 0) return drop(r);  // empty
    if (slot_ && slot_->r == req_kind::add && r.r == req_kind::add) {     // sum, both follow
      slot_->amount += r.amount;
      return join(*slot_, r);
    }
    if (slot_ && r.r == req_kind::proceed) {  // keep pending, the incoming caller follows
      if (is_fail(slot_->r)) return join(*slot_, r);
      return drop(r);  // ... if it can: a caller only follows a request of its own type
    }
    if (slot_) drop(*slot_);  // replace, the incoming caller follows
    slot_ = std::move(r);
  }
  static bool is_fail(req_kind r) {
    return r == req_kind::proceed || r == req_kind::stop || r == req_kind::crash;
  }

  // The next request, control ones first; `skips`: one whose callers all
  // gave up is not handled (queues and the control lane; a dropbox's is).
  std::optional<request> take(bool& skips) {
    skips = true;
    if (!control_.empty()) {
      auto r = std::move(control_.front());
      control_.pop_front();
      return r;
    }
    if (kind_ == kind::dropbox) {
      skips = false;
      auto r = std::move(slot_);
      slot_.reset();
      return r;
    }
    if (queue_.empty()) return std::nullopt;
    auto r = std::move(queue_.front());
    queue_.pop_front();
    if (!abandoned(r)) admit();  // its place frees (one that gave up had freed it)
    return r;
  }

  // Admits the oldest producers waiting for room while there is; one that
  // gave up is dropped unqueued (cancelled).
  void admit() {
    while (kind_ == kind::bounded && live() < capacity_ && !blocked_.empty()) {
      auto b = std::move(blocked_.front());
      blocked_.pop_front();
      if (abandoned(b)) {
        ++counted.cancelled;
        continue;
      }
      queue_.push_back(std::move(b.r));
      if (b.push_caller >= 0) answer(b.push_caller, "push:true");
    }
  }

  // The worker handles what it has until it blocks on a hold or closes; a
  // drain goes on until nothing is left, then ends the close.
  void run() {
    while (!ended_ && !in_flight_ && !restarting_) {
      if (closing_ && mode_ != workers::shutdown_mode::drain) return;
      bool skips = true;
      auto r = take(skips);
      if (!r) {
        if (closing_) {
          seal();
          finish();
        }
        return;
      }
      if (skips && abandoned(*r)) {
        ++counted.cancelled;
        continue;
      }
      if (closing_) ++handled_closing_;
      switch (r->r) {
        case req_kind::add:
        case req_kind::urgent:
          sum_ += r->amount;
          history.push_back(
              fmt::format("{} {}", r->r == req_kind::urgent ? "urgent" : "add", r->amount));
          count_handled(*r, false, false);
          for (int c : r->callers) answer(c, fmt::format("ok:{}", sum_));
          break;
        case req_kind::proceed:
        case req_kind::stop:
        case req_kind::crash: {
          history.push_back("fail");
          const bool handled = count_handled(*r, true, false);
          for (int c : r->callers) answer(c, "request_error");
          if (r->r == req_kind::stop) end_incarnation(false);
          if (r->r == req_kind::crash) {
            if (handled) ++counted.crashed;
            end_incarnation(true);
          }
          break;
        }
        case req_kind::boom:
          count_handled(*r, false, true);
          for (int c : r->callers) answer(c, "exception");
          end_incarnation(true);
          break;
        case req_kind::hold:
          in_flight_ = std::move(r);
          in_flight_counted_ = closing_;
          in_flight_started_ = now_;
          slow_noted_ = false;
          break;
        case req_kind::patient:  // its caller gave up already (a dropbox's): it returns at once
          in_flight_ = std::move(r);
          in_flight_counted_ = closing_;
          in_flight_started_ = now_;
          slow_noted_ = false;
          if (abandoned(*in_flight_)) finish_hold();
          break;
        case req_kind::count:
          break;
      }
    }
  }

  // The incarnation ends (a crash, or on_error's shutdown): its policy
  // restarts it (what waits stays), or it closes. Not once a close began.
  void end_incarnation(bool crash) {
    const bool restarts = policy_ == workers::restart_policy::permanent ||
                          (policy_ == workers::restart_policy::transient && crash);
    if (closing_ || !restarts) return begin_close(workers::shutdown_mode::abort, 0, false, crash);
    restarting_ = true;
    ++closes;  // on_close, then the state goes
    has_state_ = false;
    schedule_restart();
  }
  // Within the limits (OTP's: at most `intensity` restarts in any 5 s), the
  // next launch after the backoff; else the close for good, crashed.
  void schedule_restart() {
    while (!restart_times_.empty() && now_ - restart_times_.front() >= 5)
      restart_times_.pop_front();
    if (static_cast<int>(restart_times_.size()) >= intensity_) {
      ++limits;
      restarting_ = false;
      return begin_close(workers::shutdown_mode::abort, 0, false, true);
    }
    restart_times_.push_back(now_);
    ++restarts;
    next_launch_at_ = now_ + backoff_;
    if (backoff_ == 0) relaunch();
  }
  // The backoff ended: on_launch (which may throw: one more restart), its
  // pushes, and the loop goes on with what waited.
  void relaunch() {
    if (relaunch_failures_ > 0) {
      --relaunch_failures_;
      return schedule_restart();
    }
    restarting_ = false;
    has_state_ = true;
    sum_ = 0;
    ++restarted;
    launch_pushes(launch_pushes_);
  }

  // The close begins, or a close in progress is tightened: a stronger mode,
  // an earlier deadline; `by_shutdown`: a shutdown asked (its mode is `asked`).
  // A restarting worker has no state: it closes at once, without on_close.
  void begin_close(workers::shutdown_mode mode, int deadline, bool by_shutdown, bool crash) {
    if (ended_) return;
    restarting_ = false;
    crashed_ = crashed_ || crash;
    const std::optional<int> at = deadline ? std::optional<int>(now_ + deadline) : std::nullopt;
    if (!closing_) {
      closing_ = true;
      mode_ = asked_ = mode;
      deadline_ = at;
      began_ = now_;
      // A hold the close lets finish ends handled.
      if (in_flight_ && mode != workers::shutdown_mode::abort) {
        ++handled_closing_;
        in_flight_counted_ = true;
      }
    } else {
      if (by_shutdown) asked_ = std::max(asked_, mode);
      mode_ = std::max(mode_, mode);
      if (at && (!deadline_ || *at < *deadline_)) deadline_ = at;
    }
    if (!has_state_) {
      seal();
      return finish();
    }
    apply();
  }

  // What the mode in force does now.
  void apply() {
    if (ended_) return;
    switch (mode_) {
      case workers::shutdown_mode::abort:
        if (watch_cut_) {  // cut by the watchdog already: it returns first, then the close ends
          seal();
          return;
        }
        if (in_flight_) {  // cut by the close (a patient hold returns all the same)
          cut_ = true;
          if (in_flight_counted_) --handled_closing_;
          if (in_flight_->r == req_kind::patient) history.push_back("patient");
          count_unhandled(*in_flight_);
          for (int c : in_flight_->callers) answer(c, closed_text());
          in_flight_.reset();
          in_flight_counted_ = false;
        }
        seal();
        finish();
        break;
      case workers::shutdown_mode::finish_current:
        seal();
        if (!in_flight_) finish();
        break;
      case workers::shutdown_mode::drain:
        run();
        break;
    }
  }

  // Everything waiting is answered closed.
  void seal() {
    if (sealed_) return;
    sealed_ = true;
    const auto text = closed_text();
    for (auto& r : control_) {
      count_unhandled(r);
      for (int c : r.callers) answer(c, text);
    }
    control_.clear();
    for (auto& r : queue_) {
      count_unhandled(r);
      for (int c : r.callers) answer(c, text);
    }
    queue_.clear();
    if (slot_) {
      count_unhandled(*slot_);
      for (int c : slot_->callers) answer(c, text);
    }
    slot_.reset();
    for (auto& b : blocked_) {
      count_unhandled(b);
      for (int c : b.r.callers) answer(c, text);
      if (b.push_caller >= 0) answer(b.push_caller, "push:false");
    }
    blocked_.clear();
  }

  // The close ends: on_close, the hooks, then those waiting for it.
  void finish() {
    if (ended_) return;
    ended_ = true;
    if (has_state_) ++closes;  // on_close
    has_state_ = false;
    run_hooks();
    report_ = fmt::format("report:{}/{}/h{}/c{}/{}/{}/t{}", workers::to_string(asked_),
                          workers::to_string(mode_), handled_closing_, answered_closed_,
                          cut_ ? "cut" : "-", expired_ ? "expired" : "-", now_ - began_);
    for (int c : completion_) answer(c, "done");
    completion_.clear();
    for (int c : report_waiters_) answer(c, report_);
    report_waiters_.clear();
  }

  void run_hooks() {
    hook_runs_ += std::exchange(hooks_waiting_, 0);
    hook_threw_ = hook_threw_ || std::exchange(hooks_throw_, false);
  }

  kind kind_;
  std::size_t capacity_;
  workers::restart_policy policy_;
  int intensity_, backoff_, relaunch_failures_;
  int launch_pushes_ = 0;
  bool restarting_ = false;
  bool has_state_ = true;
  int next_launch_at_ = 0;
  std::deque<int> restart_times_;  // restarts within the last 5 s
  bool closing_ = false;           // refusing work
  bool sealed_ = false;            // what waited was answered
  bool ended_ = false;
  bool crashed_ = false;
  int sum_ = 0;
  std::deque<request> queue_;
  std::deque<request> control_;
  std::optional<request> slot_;
  std::deque<blocked_push> blocked_;
  std::optional<request> in_flight_;
  bool in_flight_counted_ = false;  // in the report's handled
  int in_flight_started_ = 0;       // its take, on the manual clock
  bool slow_noted_ = false;
  bool watch_cut_ = false;  // the watchdog cut it; it has not returned yet
  std::vector<int> completion_;
  std::vector<int> report_waiters_;
  std::vector<std::optional<std::string>> cancel_text_;
  std::vector<bool> launched_;
  int hooks_waiting_ = 0;
  bool hooks_throw_ = false;
  int hook_runs_ = 0;
  bool hook_threw_ = false;
  // The close's terms and report, on the manual clock (seconds).
  workers::shutdown_mode mode_ = workers::shutdown_mode::abort;
  workers::shutdown_mode asked_ = workers::shutdown_mode::abort;
  std::optional<int> deadline_;
  int now_ = 0, began_ = 0;
  std::size_t handled_closing_ = 0, answered_closed_ = 0;
  bool cut_ = false, expired_ = false;
  std::string report_;
};

// The real library.

// What a completion said, in the model's words.
inline std::string outcome(boost::system::error_code ec) { return ec ? "aborted" : "done"; }
// push_request: enqueued, refused (the worker is closed), or aborted (cancelled while waiting for
// room).
inline std::string push_outcome(boost::system::error_code ec) {
  if (ec == workers::errc::closed) return "push:false";
  if (ec) return "push:aborted";
  return "push:true";
}
template <class T, class E>
std::string outcome(const workers::result<T, workers::message_error<E>>& r) {
  if (r) {
    if constexpr (std::is_same_v<T, int>)
      return fmt::format("ok:{}", *r);
    else
      return "ok";
  }
  const auto& e = r.error();
  if (e.is_cancelled()) return "cancelled";
  switch (static_cast<workers::errc>(e.code().value())) {
    case workers::errc::closed:
      return std::get<workers::worker_closed>(e).crash_errors ? "closed:crash" : "closed";
    case workers::errc::request_failed:
      return "request_error";
    case workers::errc::handler_exception:
      return "exception";
    case workers::errc::dropped:
      return "dropped";
    default:
      return fmt::format("unexpected {}", e.code().message());
  }
}

// Handlers of the model's requests: `fail` carries its on_error decision.
struct model_handlers {
  std::shared_ptr<std::vector<std::string>> history = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<int> closes = std::make_shared<int>(0);
  int launch_pushes = 0;
  std::shared_ptr<int> relaunch_failures = std::make_shared<int>(0);

  template <class W>
  int on_launch(W& self, const std::string&, const calc_parameters&) {
    using K = typename W::kind;
    if (workers::restarts(self) > 0 && *relaunch_failures > 0) {
      --*relaunch_failures;
      throw std::runtime_error("relaunch failed");
    }
    for (int i = 1; i <= launch_pushes; ++i) {
      if constexpr (std::is_same_v<K, workers::queue<workers::infinite>>)
        workers::push_request_now(self, add{i});
      else if constexpr (std::is_same_v<K, workers::queue<workers::bounded>>)
        workers::try_push_request_now(self, add{i});
      else
        workers::put_request(self, add{i});
    }
    return 0;
  }

  template <class W>
  workers::result<int, std::string> on_request(W& self, const add& r) {
    history->push_back(fmt::format("add {}", r.amount));
    return workers::state(self) += r.amount;
  }
  template <class W>
  workers::result<int, std::string> on_request(W& self, const urgent& r) {
    history->push_back(fmt::format("urgent {}", r.amount));
    return workers::state(self) += r.amount;
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const fail& r) {
    history->push_back("fail");
    return {boost::system::in_place_error, r.message};
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const boom&) {
    throw std::runtime_error("boom");
  }
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const hold& r) {
    co_await r.release->async_receive(asio::use_awaitable);
    history->push_back("hold");
    co_return 1;
  }
  template <class W>
  asio::awaitable<workers::result<int, std::string>> on_request(W&, const patient_hold& r) {
    // Cut by its caller or the close, it returns all the same.
    auto [ec] = co_await r.release->async_receive(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    history->push_back("patient");
    co_return 1;
  }
  template <class W>
  workers::result<workers::unit, std::string> on_request(W&, const stop_self&) {
    return workers::unit{};
  }
  template <class W, class R>
  workers::error_action on_error(W&, const workers::request_status&, const R&,
                                 const std::string& e) {
    if (e == "stop") return workers::error_action::shutdown();
    if (e == "crash") return workers::error_action::crash({"crashed"});
    return workers::error_action::proceed();
  }
  template <class W>
  void on_close(W&) {
    ++*closes;
  }
};

// Counts the events of each kind a worker emits (its table's sink, every level).
class event_counter {
 public:
  using counts = std::array<std::atomic<std::uint64_t>, std::variant_size_v<workers::event_fields>>;
  event_counter() : counts_(std::make_shared<counts>()) {}
  bool should_handle(workers::level) const { return true; }
  void handle(const workers::event& e) {
    ++(*counts_)[e.fields.index()];
    if (const auto* c = std::get_if<workers::events::request_cancelled>(&e.fields); c && c->handled)
      ++*discarded_;
  }
  template <class Fields>
  std::uint64_t count() const {
    return (*counts_)[static_cast<std::size_t>(workers::kind_of<Fields>())].load();
  }
  // request_cancelled events whose handler ran to its end (handled = true).
  std::uint64_t discarded() const { return discarded_->load(); }

 private:
  std::shared_ptr<counts> counts_;
  std::shared_ptr<std::atomic<std::uint64_t>> discarded_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

// What the books say (metrics and events) against the model's outcomes.
inline std::optional<std::string> books_differ(const reference::outcomes& want,
                                               const workers::worker_metrics& m,
                                               const event_counter& ev) {
  namespace evs = workers::events;
  // Metrics count neither the handler's exceptions nor the discarded results apart.
  const reference::outcomes got{m.handled,   m.failed,  m.crashed, want.threw,
                                m.cancelled, m.dropped, m.refused, want.discarded};
  if (!(got == want))
    return fmt::format(
        "metrics handled {} failed {} crashed {} cancelled {} dropped {} refused {}, the model "
        "{} {} {} {} {} {}",
        got.handled, got.failed, got.crashed, got.cancelled, got.dropped, got.refused, want.handled,
        want.failed, want.crashed, want.cancelled, want.dropped, want.refused);
  const std::uint64_t succeeded = want.handled - want.failed - want.threw;
  if (ev.count<evs::request_no_errors>() != succeeded ||
      ev.count<evs::request_error>() != want.failed ||
      ev.count<evs::request_cancelled>() != want.cancelled ||
      ev.count<evs::request_dropped>() != want.dropped ||
      ev.count<evs::request_refused>() != want.refused || ev.discarded() != want.discarded)
    return fmt::format(
        "events no_errors {} error {} cancelled {} (handled {}) dropped {} refused {}, the model "
        "{} {} {} ({}) {} {}",
        ev.count<evs::request_no_errors>(), ev.count<evs::request_error>(),
        ev.count<evs::request_cancelled>(), ev.discarded(), ev.count<evs::request_dropped>(),
        ev.count<evs::request_refused>(), succeeded, want.failed, want.cancelled, want.discarded,
        want.dropped, want.refused);
  return std::nullopt;
}

// Runs `s` on the library and on the model; returns what differs first, or
// nothing when every observation agreed. `events`: the table's sink.
template <class Table>
std::optional<std::string> run_on(const sequence& s, Table table, const event_counter& events,
                                  workers::testing::manual_clock& clock) {
  using W = typename Table::worker_type;
  using K = typename W::kind;
  constexpr bool is_dropbox = std::is_same_v<K, workers::dropbox>;
  std::optional<asio::io_context> io(std::in_place, 1);
  const auto settle = [&] {
    for (;;) {
      io->restart();
      if (io->poll() == 0) return;
    }
  };

  reference model(s);
  model_handlers h;
  h.launch_pushes = s.launch_pushes;
  *h.relaunch_failures = s.relaunch_failures;
  struct caller {
    asio::cancellation_signal signal;
    std::vector<std::string> got;
  };
  std::deque<caller> callers;  // stable addresses: the signals are bound to operations
  const auto record = [&callers](int c) {
    return [&callers, c](auto&&... args) { callers[c].got.push_back(outcome(args...)); };
  };
  const auto record_push = [&callers](int c) {
    return
        [&callers, c](boost::system::error_code ec) { callers[c].got.push_back(push_outcome(ec)); };
  };
  const auto record_report = [&callers](int c) {
    return [&callers, c](boost::system::error_code ec, workers::shutdown_report r) {
      callers[c].got.push_back(
          ec ? "report:aborted"
             : fmt::format("report:{}/{}/h{}/c{}/{}/{}/t{}", workers::to_string(r.asked),
                           workers::to_string(r.reached), r.handled, r.answered_closed,
                           r.handler_cut ? "cut" : "-", r.deadline_expired ? "expired" : "-",
                           std::chrono::duration_cast<std::chrono::seconds>(r.took).count()));
    };
  };
  const auto record_state = [&callers](int c) {
    return [&callers, c](std::exception_ptr e, std::optional<int> v) {
      callers[c].got.push_back(e ? "state:threw" : v ? fmt::format("state:{}", *v) : "state:none");
    };
  };
  std::vector<std::shared_ptr<gate_channel>> gates;  // one per hold; its index is its id
  auto hook_runs = std::make_shared<int>(0);
  // Operations made with `deferred`, oldest first: how to launch each on the
  // library, and on the model.
  struct deferred_op {
    std::function<void()> real;
    std::function<void()> modelled;
  };
  std::deque<deferred_op> deferred;

  std::optional<W> w;
  // The watchdog: slow 1.5 s, stuck 2.5 s after a take (holds only: nothing
  // else takes the manual clock's time), half-way between the clock's steps.
  workers::launch_options options = test_launch_options();
  options.watchdog = workers::watchdog_budgets{.slow = std::chrono::milliseconds(1500),
                                               .stuck = std::chrono::milliseconds(2500),
                                               .grace = std::chrono::seconds(1)};
  options.restart = {.policy = s.restart,
                     .intensity = static_cast<unsigned>(s.intensity),
                     .period = std::chrono::seconds(5)};
  if (s.backoff)
    options.restart.backoff =
        workers::restart_backoff{std::chrono::seconds(s.backoff), std::chrono::seconds(s.backoff)};
  workers::launch(table, io->get_executor(), "m", calc_parameters{}, h, options, [&](auto r) {
    if (r) w = *r;
  });
  settle();
  if (!w) return "launch failed";
  model.launch_pushes(s.launch_pushes);

  const auto make = [&](const op& o) -> calc_any {
    switch (o.req) {
      case req_kind::urgent:
        return urgent{o.arg};
      case req_kind::add: {
        if (o.what != op_kind::push_probe) return add{o.arg};
        // Its destructors read the worker, wherever they run.
        return add{o.arg, destructor_probe([handle = *w] {
                     (void)workers::pending_requests_length(handle);
                     (void)workers::current_request(handle);
                     (void)workers::pending_requests(handle);
                     (void)workers::information(handle);
                   })};
      }
      case req_kind::proceed:
        return fail{"proceed"};
      case req_kind::stop:
        return fail{"stop"};
      case req_kind::crash:
        return fail{"crash"};
      case req_kind::boom:
        return boom{};
      case req_kind::patient: {
        gates.push_back(std::make_shared<gate_channel>(io->get_executor(), 1));
        patient_hold p;
        p.entered = std::make_shared<gate_channel>(io->get_executor(), 1);
        p.release = gates.back();
        return p;
      }
      default: {
        gates.push_back(std::make_shared<gate_channel>(io->get_executor(), 1));
        return hold{std::make_shared<gate_channel>(io->get_executor(), 1), gates.back()};
      }
    }
  };
  // Starts a push-and-wait (or put) of `r` for caller `c`, with `token` made for it.
  const auto push_and_wait = [&](calc_any r, auto&& make_token) {
    return std::visit(
        [&](auto req) {
          if constexpr (is_dropbox)
            return workers::put_request_and_wait(*w, std::move(req), make_token(req));
          else
            return workers::push_request_and_wait(*w, std::move(req), make_token(req));
        },
        std::move(r));
  };

  for (std::size_t step = 0; step < s.ops.size(); ++step) {
    op o = s.ops[step];
    if (o.what == op_kind::push_probe) o.req = req_kind::add;
    // An add's amount; a hold's id, the index of its gate.
    const int amount = o.req == req_kind::add || o.req == req_kind::urgent ? o.arg
                       : o.req == req_kind::hold || o.req == req_kind::patient
                           ? static_cast<int>(gates.size())
                           : 0;
    switch (o.what) {
      case op_kind::push:
      case op_kind::push_probe: {
        auto r = make(o);
        bool taken = false;
        std::visit(
            [&](auto req) {
              if constexpr (std::is_same_v<K, workers::queue<workers::infinite>>)
                taken = workers::push_request_now(*w, std::move(req));
              else if constexpr (std::is_same_v<K, workers::queue<workers::bounded>>)
                taken = workers::try_push_request_now(*w, std::move(req));
              else
                taken = workers::put_request(*w, std::move(req));
            },
            std::move(r));
        const bool expected = model.push(o.req, amount);
        if (taken != expected)
          return fmt::format("step {}: {} answered {}, the model {}", step, describe(o), taken,
                             expected);
        break;
      }
      case op_kind::push_async: {
        const int c = model.new_caller();
        callers.emplace_back();
        model.note_push_caller(c);
        auto r = make(o);
        if constexpr (is_dropbox) {
          const bool taken = std::visit(
              [&](auto req) { return workers::put_request(*w, std::move(req)); }, std::move(r));
          callers[c].got.push_back(fmt::format("push:{}", taken));
        } else {
          std::visit(
              [&](auto req) {
                workers::push_request(
                    *w, std::move(req),
                    asio::bind_cancellation_slot(callers[c].signal.slot(), record_push(c)));
              },
              std::move(r));
        }
        model.push_async(c, o.req, amount);
        break;
      }
      case op_kind::push_wait: {
        const int c = model.new_caller();
        callers.emplace_back();
        push_and_wait(make(o), [&](const auto&) {
          return asio::bind_cancellation_slot(callers[c].signal.slot(), record(c));
        });
        model.push_wait(c, o.req, amount);
        break;
      }
      case op_kind::cancel:
        if (!callers.empty()) {
          const int c = o.arg % static_cast<int>(callers.size());
          callers[c].signal.emit(asio::cancellation_type::terminal);
          model.cancel(c);
        }
        break;
      case op_kind::release:
        if (auto id = model.hold_in_flight()) gates.at(*id)->try_send(boost::system::error_code{});
        model.release();
        break;
      case op_kind::trigger:
        workers::trigger_shutdown(*w);
        model.trigger();
        break;
      case op_kind::shutdown:
      case op_kind::wait: {
        const int c = model.new_caller();
        callers.emplace_back();
        auto token = asio::bind_cancellation_slot(callers[c].signal.slot(), record(c));
        if (o.what == op_kind::shutdown) {
          workers::shutdown(*w, std::move(token));
          model.trigger();
        } else {
          workers::wait_for_completion(*w, std::move(token));
        }
        model.wait(c);
        break;
      }
      case op_kind::state:
      case op_kind::state_throws: {
        const int c = model.new_caller();
        callers.emplace_back();
        const bool throws = o.what == op_kind::state_throws;
        workers::with_state(
            *w,
            [throws](int& st) -> int {
              if (throws) throw std::runtime_error("with_state function threw");
              return st;
            },
            asio::bind_cancellation_slot(callers[c].signal.slot(), record_state(c)));
        model.state(c, throws);
        break;
      }
      case op_kind::hook:
      case op_kind::hook_throws: {
        const bool throws = o.what == op_kind::hook_throws;
        try {
          workers::canceler(*w).on_cancel([hook_runs, throws] {
            ++*hook_runs;
            if (throws) throw std::runtime_error("canceler hook threw");
          });
        } catch (const std::runtime_error&) {  // closed already: it ran at once, here
        }
        model.hook(throws);
        break;
      }
      case op_kind::defer_wait: {
        const int c = model.new_caller(false);
        callers.emplace_back();
        std::function<void()> launch_it = std::visit(
            [&](auto req) -> std::function<void()> {
              auto op = [&] {
                if constexpr (is_dropbox)
                  return workers::put_request_and_wait(*w, std::move(req), asio::deferred);
                else
                  return workers::push_request_and_wait(*w, std::move(req), asio::deferred);
              }();
              auto made = std::make_shared<decltype(op)>(std::move(op));
              return [&callers, record, c, made] {
                std::move (*made)(
                    asio::bind_cancellation_slot(callers[c].signal.slot(), record(c)));
              };
            },
            make(o));
        const req_kind req = o.req;
        deferred.push_back({std::move(launch_it), [&model, c, req, amount] {
                              model.launch(c);
                              model.push_wait(c, req, amount);
                            }});
        break;
      }
      case op_kind::defer_shutdown: {
        const int c = model.new_caller(false);
        callers.emplace_back();
        auto made = std::make_shared<decltype(workers::shutdown(*w, asio::deferred))>(
            workers::shutdown(*w, asio::deferred));
        deferred.push_back(
            {[&, c, made] {
               std::move (*made)(asio::bind_cancellation_slot(callers[c].signal.slot(), record(c)));
             },
             [&model, c] {
               model.launch(c);
               model.trigger();
               model.wait(c);
             }});
        break;
      }
      case op_kind::shutdown_mode:
      case op_kind::trigger_mode: {
        const auto mode = mode_of(o.arg);
        const int deadline = deadline_of(o.arg);
        const auto d = deadline
                           ? std::chrono::steady_clock::duration(std::chrono::seconds(deadline))
                           : workers::no_deadline;
        if (o.what == op_kind::trigger_mode) {
          workers::trigger_shutdown(*w, mode, d);
          model.trigger(mode, deadline);
        } else {
          const int c = model.new_caller();
          callers.emplace_back();
          workers::shutdown(
              *w, mode, d,
              asio::bind_cancellation_slot(callers[c].signal.slot(), record_report(c)));
          model.trigger(mode, deadline);
          model.wait(c, true);
        }
        break;
      }
      case op_kind::advance:
        for (int i = 0; i < o.arg; ++i) {  // a second at a time, the timers' functions run
          clock.advance(std::chrono::seconds(1));
          settle();
          model.advance_second();
        }
        break;
      case op_kind::launch_deferred:
        if (!deferred.empty()) {
          auto d = std::move(deferred.front());
          deferred.pop_front();
          d.real();
          d.modelled();
        }
        break;
      case op_kind::count:
        break;
    }
    settle();
    // Compare every observation.
    for (std::size_t c = 0; c < callers.size(); ++c) {
      const auto& got = callers[c].got;
      const auto& want = model.answers[c];
      if (got.size() > 1)
        return fmt::format("step {}: caller #{} answered {} times: {}", step, c, got.size(),
                           fmt::join(got, ", "));
      const std::optional<std::string> real =
          got.empty() ? std::nullopt : std::optional<std::string>(got[0]);
      if (real != want)
        return fmt::format("step {} ({}): caller #{} got {}, the model says {}", step, describe(o),
                           c, real.value_or("nothing"), want.value_or("nothing"));
    }
    if (*h.history != model.history)
      return fmt::format("step {} ({}): history [{}], the model [{}]", step, describe(o),
                         fmt::join(*h.history, ", "), fmt::join(model.history, ", "));
    const auto st = workers::status(*w);
    if (std::holds_alternative<workers::restarting>(st) != model.restarting())
      return fmt::format("step {} ({}): restarting is {}, the model says {}", step, describe(o),
                         !model.restarting(), model.restarting());
    const bool closed = std::holds_alternative<workers::closed>(st);
    if (closed != model.closed())
      return fmt::format("step {} ({}): closed is {}, the model says {}", step, describe(o), closed,
                         model.closed());
    if (closed && std::get<workers::closed>(st).crash_errors.has_value() != model.crashed())
      return fmt::format("step {} ({}): crashed differs from the model", step, describe(o));
    if (workers::pending_requests_length(*w) != model.pending())
      return fmt::format("step {} ({}): {} pending, the model says {}", step, describe(o),
                         workers::pending_requests_length(*w), model.pending());
    if (*hook_runs != model.hook_runs())
      return fmt::format("step {} ({}): canceler hooks ran {} times, the model says {}", step,
                         describe(o), *hook_runs, model.hook_runs());
    if (auto why = books_differ(model.counted, *workers::metrics(*w), events))
      return fmt::format("step {} ({}): {}", step, describe(o), *why);
    const auto m = *workers::metrics(*w);
    if (m.shutdown_escalations != model.escalations ||
        events.count<workers::events::shutdown_escalated>() != model.escalations)
      return fmt::format("step {} ({}): escalations differ from the model's {}", step, describe(o),
                         model.escalations);
    if (m.slow != model.slow_events || m.stuck != model.stuck_events ||
        events.count<workers::events::request_slow>() != model.slow_events ||
        events.count<workers::events::request_stuck>() != model.stuck_events)
      return fmt::format("step {} ({}): slow {} stuck {}, the model {} {}", step, describe(o),
                         m.slow, m.stuck, model.slow_events, model.stuck_events);
    if (m.restarts != model.restarts ||
        events.count<workers::events::restarting>() != model.restarts ||
        events.count<workers::events::restarted>() != model.restarted ||
        events.count<workers::events::restart_limit_reached>() != model.limits ||
        workers::information(*w).incarnations != 1 + model.restarted)
      return fmt::format(
          "step {} ({}): restarts {} (events {}), restarted {}, limits {}, the model {} {} {}",
          step, describe(o), m.restarts, events.count<workers::events::restarting>(),
          events.count<workers::events::restarted>(),
          events.count<workers::events::restart_limit_reached>(), model.restarts, model.restarted,
          model.limits);
  }

  // Operations made with `deferred` and never launched have no effect; they go now.
  deferred.clear();
  if (s.drop_context) {
    // The context dies with the worker alive: callers not answered yet never are.
    model.abandon();
    gates.clear();
    io.reset();
    for (std::size_t c = 0; c < callers.size(); ++c) {
      const auto want = model.answers[c] ? 1u : 0u;
      if (callers[c].got.size() != want)
        return fmt::format("end: caller #{} answered {} times, the model says {}", c,
                           callers[c].got.size(), want);
    }
    const auto st = workers::status(*w);
    if (!std::holds_alternative<workers::closed>(st) ||
        std::get<workers::closed>(st).crash_errors.has_value() != model.crashed())
      return std::string("end: the abandoned worker's status differs from the model");
  } else {
    // The end: close, then every launched caller has been answered exactly once.
    workers::trigger_shutdown(*w);
    model.trigger();
    settle();
    for (std::size_t c = 0; c < callers.size(); ++c) {
      const auto want = model.launched(static_cast<int>(c)) ? 1u : 0u;
      if (callers[c].got.size() != want)
        return fmt::format("end: caller #{} answered {} times, the model says {}", c,
                           callers[c].got.size(), want);
    }
  }
  if (*h.closes != model.closes)
    return fmt::format("end: on_close ran {} times, the model says {}", *h.closes, model.closes);
  if (*hook_runs != model.hook_runs())
    return fmt::format("end: canceler hooks ran {} times, the model says {}", *hook_runs,
                       model.hook_runs());
  if (table.size() != 0) return std::string("end: the worker is still in its table");
  if (auto why = books_differ(model.counted, *workers::metrics(*w), events))
    return fmt::format("end: {}", *why);
  w.reset();  // the last handle, after its context when that was dropped
  return std::nullopt;
}

}  // namespace test::model

namespace test::model {

// The model's dropbox merge, one outcome of each kind:
//   add 0 put into an empty slot: empty (its caller is dropped);
//   add onto add: one add of the sum, both callers follow;
//   a failing request that proceeds, onto a pending one: keep the pending one,
//     the incoming caller follows it (if it is a fail too: same type);
//   anything else: replaces the pending request, whose callers are dropped.
inline workers::merged<calc_any> model_merge(dropbox_worker&, calc_any in,
                                             const calc_any* pending) {
  using merged = workers::merged<calc_any>;
  const auto* a = std::get_if<add>(&in);
  if (!pending && a && a->amount == 0) return merged::empty();
  if (pending && a && std::holds_alternative<add>(*pending))
    return {add{std::get<add>(*pending).amount + a->amount}, workers::follow::both};
  if (pending && std::holds_alternative<fail>(in) && std::get<fail>(in).message == "proceed")
    return merged::keep_pending(workers::follow::incoming);
  return in;
}

// Runs `s` on a fresh table of its kind, which keeps metrics, counts its
// events and reads a manual clock.
inline std::optional<std::string> check(const sequence& s) {
  event_counter events;
  auto clock = std::make_shared<workers::testing::manual_clock>();
  const workers::table_options books{.sink = events, .metrics = true, .clock = clock};
  switch (s.k) {
    case kind::infinite:
      return run_on(s, make_table(books), events, *clock);
    case kind::bounded:
      return run_on(s, make_bounded_table(s.capacity, books), events, *clock);
    case kind::dropbox:
      return run_on(s, calc::create_table(workers::merging_dropbox{model_merge}, books), events,
                    *clock);
  }
  return std::nullopt;
}

// A random sequence: mostly pushes of every flavour, some holds to make the
// worker busy, cancellations, releases, and now and then a way to close.
inline sequence generate(std::uint32_t seed) {
  std::mt19937 rng(seed);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  sequence s;
  s.k = static_cast<kind>(pick(3));
  s.capacity = 1 + static_cast<std::size_t>(pick(3));
  s.launch_pushes = pick(4) == 0 ? 1 + pick(2) : 0;
  s.drop_context = pick(8) == 0;
  s.restart = static_cast<workers::restart_policy>(pick(3));
  s.intensity = 1 + pick(3);
  s.backoff = pick(3);
  s.relaunch_failures = pick(4) == 0 ? 1 + pick(2) : 0;
  const int n = 1 + pick(30);
  for (int i = 0; i < n; ++i) {
    op o;
    const int w = pick(100);
    o.what = w < 17   ? op_kind::push
             : w < 28 ? op_kind::push_async
             : w < 46 ? op_kind::push_wait
             : w < 55 ? op_kind::cancel
             : w < 66 ? op_kind::release
             : w < 68 ? op_kind::trigger
             : w < 70 ? op_kind::shutdown
             : w < 72 ? op_kind::wait
             : w < 75 ? op_kind::state
             : w < 76 ? op_kind::state_throws
             : w < 78 ? op_kind::hook
             : w < 79 ? op_kind::hook_throws
             : w < 82 ? op_kind::defer_wait
             : w < 83 ? op_kind::defer_shutdown
             : w < 86 ? op_kind::launch_deferred
             : w < 88 ? op_kind::push_probe
             : w < 92 ? op_kind::shutdown_mode
             : w < 95 ? op_kind::trigger_mode
                      : op_kind::advance;
    const int r = pick(100);
    o.req = r < 40   ? req_kind::add
            : r < 50 ? req_kind::proceed
            : r < 54 ? req_kind::stop
            : r < 58 ? req_kind::crash
            : r < 62 ? req_kind::boom
            : r < 85 ? req_kind::hold
            : r < 92 ? req_kind::patient
                     : req_kind::urgent;
    o.arg = static_cast<std::uint8_t>(
        o.what == op_kind::cancel                                             ? pick(16)
        : o.what == op_kind::advance                                          ? 1 + pick(3)
        : o.what == op_kind::shutdown_mode || o.what == op_kind::trigger_mode ? pick(12)
                                                                              : pick(10));
    s.ops.push_back(o);
  }
  return s;
}

// The fuzzer's encoding: a byte for the kind, capacity, backoff and
// intensity, a byte for the pushes from on_launch, the end, the restart
// policy and the failed relaunches, then three bytes per operation.
inline sequence decode(std::span<const std::uint8_t> bytes) {
  sequence s;
  if (bytes.size() < 2) return s;
  s.k = static_cast<kind>(bytes[0] % 3);
  s.capacity = 1 + (bytes[0] / 3) % 3;
  s.launch_pushes = bytes[1] % 3;
  s.drop_context = (bytes[1] / 3) % 2 == 1;
  s.backoff = (bytes[0] / 9) % 3;
  s.intensity = 1 + (bytes[0] / 27) % 3;
  s.restart = static_cast<workers::restart_policy>((bytes[1] / 6) % 3);
  s.relaunch_failures = (bytes[1] / 18) % 3;
  for (std::size_t i = 2; i + 3 <= bytes.size() && s.ops.size() < 64; i += 3) {
    op o;
    o.what = static_cast<op_kind>(bytes[i] % static_cast<int>(op_kind::count));
    o.req = static_cast<req_kind>(bytes[i + 1] % static_cast<int>(req_kind::count));
    o.arg = static_cast<std::uint8_t>(bytes[i + 2] % 16);
    s.ops.push_back(o);
  }
  return s;
}

// Removes operations one at a time while the sequence still fails: what is
// left is a minimal sequence to replay.
inline sequence shrink(sequence s) {
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = 0; i < s.ops.size(); ++i) {
      sequence shorter = s;
      shorter.ops.erase(shorter.ops.begin() + static_cast<std::ptrdiff_t>(i));
      if (check(shorter)) {
        s = std::move(shorter);
        progress = true;
        break;
      }
    }
  }
  return s;
}

}  // namespace test::model
