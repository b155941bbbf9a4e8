#pragma once

// The loop (worker_impl.hpp): on the strand, it takes requests from its
// mailbox and treats them one at a time, until it must await a hook (it
// spawns the hook's coroutine and returns), the mailbox is empty (it parks),
// it has used its fairness budget (it posts its next turn), or the worker
// closes (the close goes on from here, impl/close_sequence.hpp).
//
// Parking: an idle worker is a flag in its mailbox; the push that ends the
// park posts the wake-up. The close does not need the loop: it runs from its
// own post, so a loop that parks while a close begins stays parked. The idle
// timer (idle_timer.hpp) fires while parked, and wakes the loop only if the
// worker has been idle its whole timeout, measured from the last request taken.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// A wake-up: a push ended the park, the idle timer ran out, or the loop's own
// next turn after it yielded.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::resume(wake_reason why) {
  drive(why == wake_reason::timed_out && !this->stops_loop() ? idle() : std::nullopt);
}

// Runs the loop as plain code; when a step must be awaited (`first`, the
// hooks of `request`, or what the loop returns), the loop goes on in a
// coroutine that awaits it.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::drive(pending first, entry_type* request) {
  if (!first) first = run_loop(request);
  if (!first) return;
  begin_call(request);
  auto driver = std::allocate_shared<loop_driver>(boost::asio::recycling_allocator<loop_driver>());
  driver_ = driver;
  boost::asio::co_spawn(
      this->hook_executor(), drive_async(this->hold(), driver, std::move(*first)),
      boost::asio::bind_cancellation_slot(
          driver->signal.slot(), [self = this->hold(), driver](std::exception_ptr failure) {
            static_cast<worker_impl&>(*self).driver_ended(driver, failure);
          }));
}

// The loop while hooks are awaited, until the worker is idle or a call was
// cut short. `keep` holds the worker, `driver` the signal bound to this coroutine.
template <class Def, class Kind, class H>
boost::asio::awaitable<void> worker_impl<Def, Kind, H>::drive_async(
    std::shared_ptr<base> keep, std::shared_ptr<loop_driver> driver,
    boost::asio::awaitable<void> first) {
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  for (pending p(std::move(first)); p;) {
    co_await std::move(*p);
    end_call();
    if (driver->spent) break;  // the loop goes on once this coroutine has ended
    entry_type* request = nullptr;
    p = run_loop(request);
    if (p) begin_call(request);
  }
  (void)keep;
}

// Runs when the loop's coroutine has ended (its last step ran, and the strand
// may have run a new one since). A coroutine whose call was cut short, or
// that failed, leaves the loop to go on from here.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::driver_ended(const std::shared_ptr<loop_driver>& driver,
                                             std::exception_ptr failure) {
  if (driver_ == driver) driver_.reset();
  if (failure) {
    end_call();
    crash(failure, "the worker's loop");
  }
  if ((failure || driver->spent) && !call_) drive(std::nullopt);
}

// `request`: where it leaves the request whose hooks it returns to await.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::run_loop(entry_type*& request) -> pending {
  auto& mailbox = this->mailbox();
  for (;;) {
    // A drain goes on taking until the mailbox is empty; any other close goes
    // on from here (an awaited on_close, if any). No branch hint: a drain
    // runs this loop as hot as a running worker does.
    bool draining = false;
    if (this->stops_loop()) {
      if (this->is_restarting()) {  // the restart goes on from here, until it launches
        if (pending p = advance_restart()) return p;
        // Held for its backoff: nothing to take. A failed on_launch (step
        // closed) goes round once more, to be counted against the limits.
        if (this->is_restarting() && restart_step_ != restart_step::closed) return std::nullopt;
        continue;
      }
      if (this->lifecycle().mode() != shutdown_mode::drain || !this->state_ptr())
        return advance_close();
      draining = true;
    }
    if (--budget_ == 0) {
      budget_ = fairness_budget;
      mailbox.yield();
      if (this->measures_service()) this->service_ends(this->steady_now());
      this->post_with(this->hold(),
                      [](base& b) { static_cast<worker_impl&>(b).resume(wake_reason::ready); });
      return std::nullopt;
    }
    leftovers out;
    entry_type* e = this->take_next(out);  // control requests first
    this->settle(out);
    if (!e) {
      if (this->measures_service()) this->service_ends(this->steady_now());
      if (draining) {
        drained_ = true;
        return advance_close();
      }
      if (park()) return std::nullopt;
      continue;
    }
    if (draining) {  // in the close's report
      ++this->tally().handled;
      counted_handled_ = true;
    }
    // Never before its push, whatever each read's precision (stamp_now).
    e->treated = std::max(this->stamp_now(), e->pushed);
    mailbox.handling(*e);
    this->service_starts(*e);
    if (this->has_extras()) [[unlikely]]
      take_extras(*e);
    if (pending p = std::visit([&](auto& r) { return treat(*e, r); }, e->request)) {
      request = e;
      return p;
    }
    if (this->watches()) [[unlikely]]  // a plain handler returned
      watch_end(*e);
  }
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::take_extras(entry_type& e) {
  if (auto& idle = this->timeout()) idle->idle_from(e.treated);
  if (this->alarmed()) this->check_alarm_on_take(&e);
  if (this->watches()) watch_begin(e);
}

// Parks the loop until a push or the idle timeout; false if something came
// meanwhile. Once parked: the idle timer is armed, and a callback worker's
// reader may read.
template <class Def, class Kind, class H>
bool worker_impl<Def, Kind, H>::park() {
  auto& mailbox = this->mailbox();
  if (!mailbox.park()) return false;
  // A control push that found the loop not parked yet (control_lane.hpp).
  if (this->control_ready() && mailbox.unpark()) return false;
  if (auto& idle = this->timeout())
    idle->arm(this->seam(), this->strand(),
              [self = this->hold()] { static_cast<worker_impl&>(*self).idle_due(); });
  mailbox.parked();
  return true;
}

// The idle timer fired: if the worker has been idle its whole timeout and is
// still parked, it wakes for on_no_request; if a request came since the timer
// was armed, the timer waits for the rest.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::idle_due() {
  auto& idle = this->timeout();
  if (!idle || this->stops_loop()) return;
  if (!idle->expired(this->steady_now())) {
    idle->arm(this->seam(), this->strand(),
              [self = this->hold()] { static_cast<worker_impl&>(*self).idle_due(); });
    return;
  }
  if (this->mailbox().unpark()) resume(wake_reason::timed_out);
}

// The idle timeout ran out: on_no_request; idleness counts again from its end.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::idle() -> pending {
  if constexpr (has_on_no_request<H, handle_type>) {
    return invoke_hook([this] { return handlers_.on_no_request(self_); },
                       [this](outcome<void> o) -> pending {
                         if (auto& idle = this->timeout()) idle->idle_from(this->steady_now());
                         after_hook(o, "on_no_request");
                         return std::nullopt;
                       });
  } else {
    if (auto& idle = this->timeout()) idle->idle_from(this->steady_now());
    return std::nullopt;
  }
}

}  // namespace detail
WORKERS_END_NAMESPACE
