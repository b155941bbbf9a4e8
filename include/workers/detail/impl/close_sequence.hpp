#pragma once

// The close (SPEC §5): the one way a worker ends, one sequence whatever ends
// it. `advance_close` runs its steps in order, each once (`close_step_` says
// how far it went), as far as they can go now; it is called again when they
// can go further.
//
//   step                      a close               a failed launch   the context dies
//   0  refuse new work        request_close, any thread: the phase becomes closing
//                             (worker_lifecycle.hpp); pushes are refused from now on
//   1  stop what runs         cut the awaited hook  —                 drop what refers to
//                             in flight short (not  (on_launch         the context (timer,
//                             if the close comes    ended)            reader, signals)
//                             from it); stop a callback's reader and the idle timer
//   2  answer what waits      seal the mailbox: every queued caller and every producer
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
// Who calls it: the post of request_close (step 0) runs it on the strand; the
// loop, when it finds the worker closing; the end of an awaited hook (step 3
// waits for it); the end of an awaited on_close; a failed launch, on the spot;
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
  if (pending p = advance_close(false, from_inside)) drive(std::move(p));
}

// Returns an awaited on_close, for the caller to await.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::advance_close(bool abandoning, bool from_inside) -> pending {
  auto keep = this->hold();                 // the last step lets `self_` go
  if (close_step_ < close_step::stopped) {  // step 1
    close_step_ = close_step::stopped;
    if (abandoning) {
      if (auto& idle = this->timeout()) idle->abandon();
      this->mailbox().abandoned();
      if (driver_) driver_->signal.slot().clear();
    } else {
      if (!from_inside) cut_call(cut::by_close);
      this->stop_timer();
      this->mailbox().closing();
    }
  }
  if (close_step_ < close_step::drained) {  // step 2
    close_step_ = close_step::drained;
    leftovers out;
    // The context dies with a request's hooks in flight: it leaves with the rest.
    const auto* in_hand = static_cast<const entry_type*>(call_.request);
    this->mailbox().seal(out, abandoning, in_hand);
    this->mailbox().collect(abandoning);
    this->settle(out, abandoning);
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
          if (!o) base::crash("on_close", o.error());  // its error joins the crash errors
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
  close_reason why;
  // The requests handled go (a request's destructor may call the worker).
  this->mailbox().ended();
  if (abandoning)
    why = this->reason();
  else
    why = this->lifecycle().closed(this->seam().wall_now());
  this->note_ended(why);
  waiter_ptr newest = this->lifecycle().take_completion_waiters();
  waiter_ptr oldest;  // the chain reversed: answered oldest first
  while (newest) {
    waiter_ptr w = std::exchange(newest, newest->take_next());
    w->append(std::move(oldest));
    oldest = std::move(w);
  }
  while (oldest) {
    waiter_ptr w = std::exchange(oldest, oldest->take_next());
    if (abandoning)
      w->abandon();
    else
      typed<error_code>(w)->answer(error_code{});
  }
  this->drop_work();
  if (abandoning) {
    if (launch_reply_) launch_reply_->abandon();
    launch_reply_.reset();
    disarm_caller_cancel();  // a hook armed for a handler cut by the context's end
  }
  self_ = handle_type{};
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
  call_ = hook_call{};
  this->mailbox().abandoned();
  this->drop_strand();
}

}  // namespace detail
WORKERS_END_NAMESPACE
