#pragma once

// The watchdog's side in the worker (worker_impl.hpp; its clock side is
// watchdog.hpp): a request's handling is watched from its take until its
// handler and hooks have returned; `watch_due`, on the strand when the timer
// fires, reports it slow, cuts it when stuck (`cut::by_watchdog`), and
// crashes the worker once the grace ran out. A plain handler blocks the
// strand, so the timer cannot fire while it runs: `watch_end` reports it then.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <fmt/format.h>

#include <chrono>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::watch_begin(entry_type& e) {
  auto& wd = *this->watch();
  wd.begin(&e, e.treated);
  arm_watch();
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::arm_watch() {
  this->watch()->arm(this->seam(), this->strand(),
                     [self = this->hold()] { static_cast<worker_impl&>(*self).watch_due(); });
}

// The request's handling ended: what it ran past, reported now.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::watch_end(const entry_type& e) noexcept {
  auto& wd = *this->watch();
  if (wd.watched() != &e) return;
  const auto now = this->steady_now();
  const auto ran = std::chrono::duration_cast<clock::duration>(wd.running(now));
  if (wd.take_slow(now)) this->note_slow(e, ran, true);
  if (wd.take_stuck(now)) this->note_stuck(e, ran, true);
  wd.end();
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::watch_due() {
  auto& wd = *this->watch();
  wd.fired();
  const auto* e = static_cast<const entry_type*>(wd.watched());
  if (!e || close_step_ == close_step::ended || !this->has_strand()) return;
  const auto now = this->steady_now();
  const auto ran = std::chrono::duration_cast<clock::duration>(wd.running(now));
  if (wd.take_slow(now)) this->note_slow(*e, ran, false);
  if (wd.take_stuck(now)) {
    this->note_stuck(*e, ran, false);
    if (call_.request == e) cut_call(cut::by_watchdog);
    arm_watch();  // for the grace, which counts from the cut
    return;
  }
  if (wd.take_crash(now)) {
    using ms = std::chrono::milliseconds;
    const auto& b = wd.budgets();
    this->request_close(
        close_cause::handler_exception,
        error_list{fmt::format(
            "stuck: {} ran {} ms, {} ms past its stuck budget, and did not return {} ms after it "
            "was cancelled",
            Def::view_of(e->request), std::chrono::duration_cast<ms>(ran).count(),
            std::chrono::duration_cast<ms>(ran - *b.stuck).count(),
            std::chrono::duration_cast<ms>(b.grace).count())});
    return;
  }
  arm_watch();
}

}  // namespace detail
WORKERS_END_NAMESPACE
