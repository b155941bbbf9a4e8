#pragma once

// One request (worker_impl.hpp): on_request, its answer, then on_completion
// or on_error, and its one outcome in the books (worker_observer.hpp).
//
// The caller is answered first, as soon as the result is known; the hooks run
// after, and see the result (one that cannot be copied reaches its caller
// once the hook has seen it). Each answer is claimed before it completes, so
// the books count what the callers are told: `handled` (with `failed` for a
// request error, `crashed` for an exception) if one took it, `cancelled` with
// the result discarded if every caller had given up. A handler cut short by
// the close counts `dropped` (its callers get `closed`), one cut short by its
// caller `cancelled` (`handled` if it returned all the same: a result discarded).
//
// A handler that takes its request by value or rvalue gets it moved out of the
// mailbox (under the lock introspection reads requests under, which keeps its
// view for `current_request`); on_completion and on_error then see what the
// move left.

#include <workers/detail/config.hpp>
#include <workers/detail/worker_impl.hpp>

#include <memory>
#include <optional>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class Def, class Kind, class H>
template <class R>
auto worker_impl<Def, Kind, H>::treat(entry_type& e, R& r) -> pending {
  arm_caller_cancel<R>(e);
  auto hook = [this, &e, &r, moved = std::optional<R>()]() mutable -> decltype(auto) {
    if constexpr (moves_request<R>) {
      (void)r;
      moved.emplace(this->mailbox().template move_out<R>(e));
      return handlers_.on_request(self_, std::move(*moved));
    } else {
      (void)e;
      return handlers_.on_request(self_, std::as_const(r));
    }
  };
  constexpr bool awaited = is_awaitable_v<std::invoke_result_t<decltype(hook)&>>;
  pending next =
      invoke_hook(std::move(hook), [this, &e, &r](outcome<handler_result<R>> o) -> pending {
        if constexpr (awaited) call_.noted = true;  // its outcome is noted below, whatever it is
        disarm_caller_cancel();
        if (const cut by = take_cut(); by != cut::none) [[unlikely]]
          if (by != cut::by_watchdog || !o) return settle_cut<R>(by, e, o);
        if (!o) {
          answer_threw<R>(e, o.error(), true);
          crash(o.error(), "on_request");
          return std::nullopt;
        }
        if (*o) return succeeded<R>(e, std::as_const(r), std::move(**o));
        if constexpr (std::is_same_v<typename R::error_type, never>)
          return std::nullopt;  // no value of `never` exists: unreachable
        else
          return failed<R>(e, std::as_const(r), std::move(o->error()));
      });
  // A plain handler's outcome is noted already: the call its awaited hooks begin knows it.
  if constexpr (!awaited)
    if (next) noted_next_ = true;
  return next;
}

// A handler cut short: by the close (its callers get `closed`), by its caller
// (answered `request_cancelled` already: a handler that returned all the same
// ran to its end, its result discarded), or by the watchdog when it threw
// then (its callers get the exception, and the worker does not crash: what
// it returns goes to them as usual).
template <class Def, class Kind, class H>
template <class R>
auto worker_impl<Def, Kind, H>::settle_cut(cut by, entry_type& e, outcome<handler_result<R>>& o)
    -> pending {
  switch (by) {
    case cut::by_close:
      if (e.reply && !chain_wanted(e.reply)) {
        this->note_cancelled(e, false, kept_view<R>(e));
      } else {
        this->note_dropped(e, kept_view<R>(e));
        ++this->tally().answered_closed;
        answer_error(e, worker_closed{this->crash_errors()});
      }
      break;
    case cut::by_caller:
      this->note_cancelled(e, o.has_value(), kept_view<R>(e));
      break;
    case cut::by_watchdog:
      answer_threw<R>(e, o.error(), false);
      break;
    case cut::none:
      break;
  }
  return std::nullopt;
}

// The handler threw `ex`: its callers get it as `handler_exception`; the books
// count it handled (and crashed, if it `crashes` the worker), or cancelled
// with its result discarded if every caller had given up.
template <class Def, class Kind, class H>
template <class R>
void worker_impl<Def, Kind, H>::answer_threw(entry_type& e, const std::exception_ptr& ex,
                                             bool crashes) {
  answer_chain<R>(e.reply,
                  reply_result<R>(boost::system::in_place_error,
                                  message_error<typename R::error_type>(handler_exception{ex})),
                  false, [&](bool taken, const auto&) {
                    if (!taken && e.reply)
                      this->note_cancelled(e, true, kept_view<R>(e));
                    else if (crashes)
                      this->note_threw();
                    else
                      this->note_handled();
                  });
}

template <class Def, class Kind, class H>
template <class R>
auto worker_impl<Def, Kind, H>::succeeded(entry_type& e, const R& r, typename R::result_type value)
    -> pending {
  using T = typename R::result_type;
  if constexpr (has_on_completion<H, handle_type, R>) {
    const request_status st = this->status_of(e);
    if constexpr (std::is_copy_constructible_v<T>) {
      const bool handled = answer_value<R>(e, T(value));
      return invoke_hook(
          // In an optional: GCC 12 takes an empty result type captured by value for
          // uninitialized.
          [this, &r, st, v = std::optional<T>(std::move(value))] {
            return handlers_.on_completion(self_, r, *v, st);
          },
          [this, &e, st, handled](outcome<void> o) -> pending {
            if (handled) this->note_success(e, st, kept_view<R>(e));
            after_hook(o, "on_completion");
            return std::nullopt;
          });
    } else {
      auto v = std::make_shared<T>(std::move(value));
      return invoke_hook(
          [this, &r, st, v] { return handlers_.on_completion(self_, r, std::as_const(*v), st); },
          [this, &e, st, v](outcome<void> o) -> pending {
            if (answer_value<R>(e, std::move(*v))) this->note_success(e, st, kept_view<R>(e));
            after_hook(o, "on_completion");
            return std::nullopt;
          });
    }
  } else {
    if (answer_value<R>(e, std::move(value)) && this->wants(level::debug))
      this->note_success(e, this->status_of(e), kept_view<R>(e));
    return std::nullopt;
  }
}

template <class Def, class Kind, class H>
template <class R>
auto worker_impl<Def, Kind, H>::failed(entry_type& e, const R& r, typename R::error_type error)
    -> pending {
  using E = typename R::error_type;
  if constexpr (has_on_error<H, handle_type, R>) {
    const request_status st = this->status_of(e);
    // on_error decides; its crash counts the request `crashed` if it counted `handled`.
    const auto decide = [this](outcome<error_action>& o, bool handled) {
      if (take_cut() != cut::none) return;
      if (!o) {
        if (handled) this->note_crashed_on();
        crash(o.error(), "on_error");
      } else {
        apply(*o, handled);
      }
    };
    if constexpr (std::is_copy_constructible_v<E>) {
      const bool handled = answer_request_error<R>(e, st, E(error));
      return invoke_hook(
          [this, &r, st, err = std::optional<E>(std::move(error))] {
            return handlers_.on_error(self_, st, r, *err);
          },
          [decide, handled](outcome<error_action> o) -> pending {
            decide(o, handled);
            return std::nullopt;
          });
    } else {
      auto err = std::make_shared<E>(std::move(error));
      return invoke_hook(
          [this, &r, st, err] { return handlers_.on_error(self_, st, r, std::as_const(*err)); },
          [this, &e, st, err, decide](outcome<error_action> o) -> pending {
            decide(o, answer_request_error<R>(e, st, std::move(*err)));
            return std::nullopt;
          });
    }
  } else {
    answer_request_error<R>(e, this->observing() ? this->status_of(e) : request_status{},
                            std::move(error));
    return std::nullopt;
  }
}

// The view of a request its handler took by value, kept by the mailbox.
template <class Def, class Kind, class H>
template <class R>
auto worker_impl<Def, Kind, H>::kept_view(const entry_type& e) const -> const view_type* {
  if constexpr (moves_request<R>)
    return this->mailbox().moved_view(e);
  else
    return nullptr;
}

// The value goes to the callers; `handled` (true), or `cancelled` if none took it.
template <class Def, class Kind, class H>
template <class R>
bool worker_impl<Def, Kind, H>::answer_value(entry_type& e, typename R::result_type&& v) {
  if (!e.reply) {  // fire and forget: nobody to tell
    this->note_handled();
    return true;
  }
  bool handled = false;
  answer_chain<R>(e.reply, reply_result<R>(boost::system::in_place_value, std::move(v)),
                  this->dispatches_replies(), [&](bool taken, const auto&) {
                    handled = taken || !e.reply;
                    if (handled)
                      this->note_handled();
                    else
                      this->note_cancelled(e, true, kept_view<R>(e));
                  });
  return handled;
}

// The request error goes to the callers; `handled` and `failed` (with the
// request_error event), or `cancelled` if none took it.
template <class Def, class Kind, class H>
template <class R>
bool worker_impl<Def, Kind, H>::answer_request_error(entry_type& e, const request_status& st,
                                                     typename R::error_type&& err) {
  using E = typename R::error_type;
  bool handled = false;
  answer_chain<R>(e.reply,
                  reply_result<R>(boost::system::in_place_error,
                                  message_error<E>(request_error<E>{std::move(err)})),
                  this->dispatches_replies(), [&](bool taken, const reply_result<R>& value) {
                    handled = taken || !e.reply;
                    if (handled)
                      this->note_failed(e, st, value.error().error(), kept_view<R>(e));
                    else
                      this->note_cancelled(e, true, kept_view<R>(e));
                  });
  return handled;
}

// After on_completion, on_error's failure, on_no_request: a throw crashes
// the worker, unless the hook was cut short.
template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::after_hook(const outcome<void>& o, const char* where) {
  if (take_cut() != cut::none || o) return;
  crash(o.error(), where);
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::apply(const error_action& action, bool handled) {
  switch (action.what()) {
    case error_action::kind::proceed:
      break;
    case error_action::kind::shutdown:
      this->request_close(close_cause::on_error_shutdown);
      break;
    case error_action::kind::crash:
      if (handled) this->note_crashed_on();
      this->request_close(close_cause::crash, action.errors());
      break;
  }
}

template <class Def, class Kind, class H>
void worker_impl<Def, Kind, H>::crash(const std::exception_ptr& ex, const char* where) {
  base::crash(where, described(ex));
}

}  // namespace detail
WORKERS_END_NAMESPACE
