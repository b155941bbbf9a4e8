#pragma once

// The close (SPEC §5): the one way a worker ends, one sequence whatever ends
// it. `advance_close` runs its steps in order, each once (`close_step_` says
// how far it went), as far as they can go now; it is called again when they
// can go further.
//
//   step                      a close               a failed launch   the context dies
//   0  refuse new work        request_close, any thread: the phase becomes closing
//                             (worker_lifecycle.hpp); pushes are refused from now on
//   1  stop what runs         abort: cut the        —                 drop what refers to
//                             awaited hook in       (on_launch         the context (timer,
//                             flight short (not     ended)            reader, signals)
//                             if the close comes
//                             from it); stop a callback's reader and the idle timer;
//                             arm the deadline
//   2  answer what waits      drain: not before the loop found the mailbox empty (it
//                             handles what was accepted, then calls again). Then seal
//                             the mailbox: every queued caller and every producer
//                             waiting for room is answered `closed` (with the crash
//                             errors), or counted `cancelled` if it had given up
//                                                                     ...abandoned instead,
//                                                                     the request in hand too
//   3  on_close(reason)       once no hook is in    —                 —
//                             flight; may suspend   (it never ran)    (no handler runs)
//   4  leave the table, drop the state and the requests handled
//   5  run the canceler's hooks
//   6  closed: those waiting for the close (shutdown, wait_for_completion) are
//      answered, oldest first (abandoned when the context died); the worker
//      lets its outstanding work and itself go
//
// The mode (shutdown_report.hpp) is read at each call: a shutdown that
// tightens the close, or its deadline, takes effect at the next one (an
// abort cuts the request's hook in flight then; the deadline cuts on_close
// too).
//
// Who calls it: the post of request_close (step 0, and each tightening) runs
// it on the strand; the loop, when it finds the worker closing (or, in a
// drain, the mailbox empty); the end of an awaited hook (step 3 waits for it);
// the end of an awaited on_close; the deadline; a failed launch, on the spot;
// and `abandon`, on the thread that destroys the execution context, which
// takes the steps not taken yet in the third column. So, for instance: a
// producer waiting for room in a bounded queue when the context dies while an
// awaited on_close is suspended was answered `closed` at step 2, before
// on_close began; what is left to take are steps 4 to 6, abandoning those who
// wait for the close.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// The post of request_close. Only an awaited on_close is driven from here: a
// hook in flight is the loop's coroutine's, which calls the close again after it.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::continue_close(bool from_inside) {
  arm_deadline();
  if (pending p = advance_close(false, from_inside)) {
    drive(std::move(p));
    return;
  }
  // A drain needs the loop: a parked one is woken for it.
  if (close_step_ < close_step::drained && this->state_ptr() && this->mailbox().unpark())
    drive(std::nullopt);
}

// The close's deadline, on the worker's clock: armed when the close reaches
// the strand, armed again when a shutdown brings it closer.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::arm_deadline() {
  if (close_step_ == close_step::ended || !this->has_strand()) return;
  const close_terms terms = this->lifecycle().terms();
  if (!terms.deadline || (armed_deadline_ && *armed_deadline_ <= *terms.deadline)) return;
  if (!deadline_timer_) deadline_timer_ = this->seam().make_timer(this->strand());
  armed_deadline_ = terms.deadline;
  deadline_timer_->wait_until(*terms.deadline, [self = this->hold()] {
    static_cast<worker_impl&>(*self).deadline_expired();
  });
}

// The deadline came before the end: the close becomes an abort, and whatever
// hook is in flight is cut, on_close included.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::deadline_expired() {
  armed_deadline_.reset();
  if (close_step_ == close_step::ended) return;
  this->tally().expired = true;
  if (auto was = this->lifecycle().escalate()) this->note_escalated(*was, shutdown_mode::abort);
  cut_by_close(true);
  continue_close(false);
}

// The close cuts the awaited hook in flight: a request's (an abort), or any,
// on_close included (`any`: the deadline).
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::cut_by_close(bool any) noexcept {
  if (!call_ || !driver_ || call_.cut_by != cut::none) return;
  // on_close, a restart's included, is cut by the deadline only.
  if (!any && (close_step_ >= close_step::on_close || restart_step_ == restart_step::on_close))
    return;
  auto& t = this->tally();
  t.cut = true;
  if (call_.request && counted_handled_) --t.handled;  // it will not end as handled
  counted_handled_ = false;
  cut_call(cut::by_close);
}

// Returns an awaited on_close, for the caller to await.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::advance_close(bool abandoning, bool from_inside) -> pending {
  auto keep = this->hold();  // the last step lets `self_` go
  const shutdown_mode mode = this->lifecycle().mode();
  if (close_step_ < close_step::stopped) {  // step 1
    close_step_ = close_step::stopped;
    if (abandoning) {
      if (auto& idle = this->timeout()) idle->abandon();
      this->mailbox().abandoned();
      if (driver_) driver_->signal.slot().clear();
    } else {
      // A request's hooks in flight that the close lets finish end handled.
      if (call_ && call_.request && mode != shutdown_mode::abort) {
        ++this->tally().handled;
        counted_handled_ = true;
      }
      this->stop_timer();
      this->mailbox().closing();
    }
    cancel_restart_timer(false);  // a restart waiting for its backoff ends here
  }
  if (!abandoning && !from_inside && mode == shutdown_mode::abort) cut_by_close(false);
  // An awaited on_launch in flight returns first, and the loop calls again.
  if (launching_ && !abandoning) return std::nullopt;
  if (close_step_ < close_step::drained) {  // step 2
    // A launched worker's drain: the loop handles what was accepted first.
    if (!abandoning && mode == shutdown_mode::drain && !drained_ && this->state_ptr())
      return std::nullopt;
    close_step_ = close_step::drained;
    leftovers out;
    // The context dies with a request's hooks in flight: it leaves with the rest.
    const auto* in_hand = static_cast<const entry_type*>(call_.request);
    this->mailbox().seal(out, abandoning, in_hand);
    this->mailbox().collect(abandoning);
    this->seal_control(abandoning);
    this->settle(out, abandoning);
  } else if (abandoning && call_.request && !call_.noted) {
    // The context dies after step 2 while a request's handler is in flight
    // (a drain, a finish_current, or a cut handler not returned yet): it
    // leaves too, its outcome not noted yet.
    this->settle_abandoned(*static_cast<entry_type*>(call_.request));
  }
  if (close_step_ < close_step::on_close) {  // step 3
    if (!abandoning && this->state_ptr()) {
      if (call_) return std::nullopt;  // the hook in flight returns first, and calls again
      close_step_ = close_step::on_close;
      if (pending p = run_on_close()) return p;  // its end calls again
    }
    close_step_ = close_step::on_close;
  } else if (close_step_ == close_step::on_close && !abandoning && call_) {
    return std::nullopt;  // on_close is in flight
  }
  if (close_step_ < close_step::ended) {  // steps 4 to 6
    close_step_ = close_step::ended;
    finish_close(abandoning);
  }
  return std::nullopt;
}

// Step 3: on_close, told why. A plain one has returned when this returns; an
// awaited one is awaited by the loop, which calls the close again after it.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::run_on_close() -> pending {
  if constexpr (has_on_close<H, handle_type>) {
    return invoke_hook(
        [this, why = this->reason()] {
          if constexpr (has_on_close_with_reason<H, handle_type>)
            return handlers_.on_close(self_, why);
          else
            return handlers_.on_close(self_);
        },
        [this](outcome<void> o) -> pending {
          take_cut();
          if (!o) crash(o.error(), "on_close");  // its error joins the crash errors
          return std::nullopt;
        });
  } else {
    return std::nullopt;
  }
}

// Steps 4 to 6.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::finish_close(bool abandoning) {
  if (this->measures_service()) this->service_ends(this->steady_now());
  this->drop_state();
  if (!abandoning) this->stop_timer();
  this->leave_table();
  this->run_canceler_hooks();
  if (deadline_timer_) deadline_timer_->cancel();
  armed_deadline_.reset();
  cancel_restart_timer(false);
  if (auto& wd = this->watch()) wd->cancel();
  close_reason why;
  // The requests handled go (a request's destructor may call the worker).
  this->mailbox().ended();
  this->end_control();
  const shutdown_report report = this->report(this->steady_now());
  if (abandoning)
    why = this->reason();
  else
    why = this->lifecycle().closed(this->seam().wall_now(), report);
  this->note_ended(why, report);
  auto waiting = this->lifecycle().take_completion_waiters();
  answer_oldest_first(std::move(waiting.completion), [&](const waiter_ptr& w) {
    if (abandoning)
      w->abandon();
    else
      typed<error_code>(w)->answer(error_code{});
  });
  answer_oldest_first(std::move(waiting.report), [&](const waiter_ptr& w) {
    if (abandoning)
      w->abandon();
    else
      typed<report_value>(w)->answer({error_code{}, waiting.value});
  });
  deadline_timer_.reset();
  cancel_restart_timer(true);
  caught_.reset();
  this->drop_work();
  if (abandoning) {
    if (launch_reply_) launch_reply_->abandon();
    launch_reply_.reset();
    disarm_caller_cancel();  // a hook armed for a handler cut by the context's end
  }
  self_ = handle_type{};
}

// Answers a chain of waiters (newest first) oldest first.
template <class Def, class Kind, class H>
template <class F>
void worker_impl<Def, Kind, H>::answer_oldest_first(waiter_ptr newest, F answer) {
  waiter_ptr oldest;  // the chain reversed
  while (newest) {
    waiter_ptr w = std::exchange(newest, newest->take_next());
    w->append(std::move(oldest));
    oldest = std::move(w);
  }
  while (oldest) {
    waiter_ptr w = std::exchange(oldest, oldest->take_next());
    answer(w);
  }
}

// The execution context is being destroyed (the service's shutdown, on the
// destroying thread): no handler of it will run again. A live worker takes
// the steps of its close not taken yet, abandoning its callers; a closed one
// only drops what refers to the context.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::abandon() noexcept {
  auto keep = this->hold();
  if (this->lifecycle().abandon(this->seam().wall_now())) (void)advance_close(true);
  if (auto& idle = this->timeout()) idle->abandon();
  if (driver_) driver_->signal.slot().clear();
  driver_.reset();
  deadline_timer_.reset();
  armed_deadline_.reset();
  cancel_restart_timer(true);
  if (auto& wd = this->watch()) wd->abandon();
  call_ = hook_call{};
  this->mailbox().abandoned();
  this->drop_strand();
}

}  // namespace detail
WORKERS_END_NAMESPACE
