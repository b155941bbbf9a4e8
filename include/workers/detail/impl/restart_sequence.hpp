#pragma once

// The restart (worker_impl.hpp; supervision.hpp): a close that keeps the
// worker, then a launch. It begins where a close would (request_close, any
// thread, turns the phase to restarting: the loop takes nothing more, pushes
// are still accepted) and runs in the loop, whose runner calls
// `advance_restart` whenever it finds the worker restarting:
//
//   step        what                                             then
//   none        stop the idle timer, the watchdog, a callback's  on_close
//               reader; nothing in hand any more (the mailbox
//               is not sealed: what waits, producers waiting
//               for room included, stays)
//   on_close    on_close(reason), plain or awaited; then the     closed
//               state goes
//   closed      the limits (restart_limits.hpp): exceeded, the   waiting, or the
//               close for good (restart_limit_reached); else     close
//               the table's strategy restarts the others, the
//               backoff is armed on the worker's clock
//   waiting     the loop is held (it returns, unparked: a push   launching
//               queues without waking it) until the backoff ends
//   launching   on_launch, plain or awaited: a state, and the    none (running),
//               loop goes on with what waited; a failure is one  or closed
//               more end, counted against the limits
//
// A close (a shutdown, the limits) ends the restart wherever it is: the
// close's own sequence takes over (impl/close_sequence.hpp), without on_close
// if the state is gone, and the answers are the close's.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <fmt/format.h>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// The post of request_close: the loop runs the restart; a parked loop is woken
// for it, a running one (the end came from it) finds it at its next turn.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::continue_restart() {
  if (this->is_restarting() && this->mailbox().unpark()) drive(std::nullopt);
}

// The loop's runner, finding the worker restarting: the next steps.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::advance_restart() -> pending {
  switch (restart_step_) {
    case restart_step::none:
      restart_step_ = restart_step::on_close;
      if (this->measures_service()) this->service_ends(this->steady_now());
      this->mailbox().release_current();  // introspection shows no request in hand
      this->stop_timer();
      if (auto& wd = this->watch()) wd->cancel();
      this->mailbox().restarting();
      if (this->supervision()->options.restart_with_empty_queue) empty_queue();
      if (pending p = run_restart_on_close()) return p;  // its end drops the state
      break;
    case restart_step::on_close:  // in flight: its end calls again
    case restart_step::launching:
      return std::nullopt;
    case restart_step::closed:
      break;
    case restart_step::waiting:
      if (!restart_due_) {
        loop_held_ = true;
        return std::nullopt;
      }
      restart_due_ = false;
      restart_step_ = restart_step::launching;
      return launch();
  }
  return schedule_restart();
}

// restart_with_empty_queue: what waits is answered `closed`, with the crash
// errors, as a close would (producers waiting for room come in and go too).
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::empty_queue() {
  const worker_closed why{this->lifecycle().restart().errors};
  leftovers out;
  while (entry_type* e = this->take_next(out)) {
    this->settle(out);
    this->note_dropped(*e);
    answer_error(*e, why);
  }
  this->settle(out);
}

// Step on_close: the incarnation's on_close, told why it ended; then the state goes.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::run_restart_on_close() -> pending {
  const auto closed = [this] {
    this->drop_state();
    restart_step_ = restart_step::closed;
  };
  if constexpr (has_on_close<H, handle_type>) {
    const restart_record r = this->lifecycle().restart();
    return invoke_hook(
        [this, why = close_reason{r.cause, r.errors}] {
          if constexpr (has_on_close_with_reason<H, handle_type>)
            return handlers_.on_close(self_, why);
          else
            return handlers_.on_close(self_);
        },
        [this, closed](outcome<void> o) -> pending {
          take_cut();
          if (!o) {
            const std::string text = described(o.error());
            this->note_handler_threw("on_close", text);
            this->lifecycle().add_restart_errors({fmt::format("on_close threw: {}", text)});
          }
          closed();
          return std::nullopt;
        });
  } else {
    closed();
    return std::nullopt;
  }
}

// Step closed: within the limits, the backoff; else the close for good.
template <class Def, class Kind, class H>
auto worker_impl<Def, Kind, H>::schedule_restart() -> pending {
  auto& sup = *this->supervision();
  const auto now = this->steady_now();
  const restart_record r = this->lifecycle().restart();
  const bool with_sibling = r.cause == close_cause::sibling_restart;
  if (!with_sibling && !sup.limits->admit(now)) {
    this->note_restart_limit(sup.limits->intensity(), sup.limits->period(), r.errors);
    error_list errors = r.errors ? *r.errors : error_list{};
    errors.push_back(fmt::format(
        "restart limit reached: more than {} restart(s) in {} ms", sup.limits->intensity(),
        std::chrono::duration_cast<std::chrono::milliseconds>(sup.limits->period()).count()));
    for (const auto& w : this->restarted_with()) w->close_with_sibling(errors);
    this->request_close(close_cause::restart_limit_reached, std::move(errors));
    restart_step_ = restart_step::none;
    return std::nullopt;  // the loop finds the worker closing
  }
  if (!with_sibling)
    for (const auto& w : this->restarted_with()) w->restart_with_sibling();
  const auto delay = sup.delay.next(sup.options.backoff, now);
  this->note_restarting(r.attempt, r.cause, r.errors, delay);
  restart_step_ = restart_step::waiting;
  if (delay <= steady_clock::duration::zero()) {
    restart_due_ = true;
    return advance_restart();
  }
  this->lifecycle().restart_scheduled(this->seam().wall_of(now + delay, now));
  if (!sup.timer) sup.timer = this->seam().make_timer(this->strand());
  sup.timer->wait_until(now + delay,
                        [self = this->hold()] { static_cast<worker_impl&>(*self).restart_due(); });
  loop_held_ = true;
  return std::nullopt;
}

// The backoff ended: the held loop runs again, and launches.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::restart_due() {
  if (!this->is_restarting() || restart_step_ != restart_step::waiting) return;
  restart_due_ = true;
  this->lifecycle().restart_scheduled(std::nullopt);
  if (std::exchange(loop_held_, false) || this->mailbox().unpark()) drive(std::nullopt);
}

// The close stops the backoff's timer (`drop`: and lets it go, as the
// context's end must).
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::cancel_restart_timer(bool drop) noexcept {
  auto& sup = this->supervision();
  if (!sup || !sup->timer) return;
  sup->timer->cancel();
  if (drop) sup->timer.reset();
}

// Step launching, failed: one more end, counted against the limits.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::relaunch_failed(std::string message) {
  this->note_launch_failed(message);
  this->lifecycle().relaunch_failed({std::move(message)});
  restart_step_ = restart_step::closed;
}

}  // namespace detail
WORKERS_END_NAMESPACE
