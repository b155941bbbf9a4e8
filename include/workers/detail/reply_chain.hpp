#pragma once

// Answering the callers of one request: one caller, or a chain of them (a
// dropbox request that other puts were merged into). Each caller is claimed on
// its own (waiter.hpp), so a chain may be answered in part: those who gave up
// already are skipped. A queued request's chain is read by introspection
// (whether someone still wants it) while the worker answers it: it is
// answered in place, never moved out of its entry.

#include <workers/detail/config.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/message_error.hpp>

#include <boost/container/small_vector.hpp>
#include <boost/mp11/algorithm.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Calls `f.template operator()<R>()` for the alternative R at `index` of `Variant`.
template <class Variant, class F>
decltype(auto) with_alternative(std::size_t index, F&& f) {
  return boost::mp11::mp_with_index<std::variant_size_v<Variant>>(index, [&](auto i) {
    return f.template operator()<std::variant_alternative_t<decltype(i)::value, Variant>>();
  });
}

// Marks every caller of the chain `head` as being handled: from now on a
// `total` cancellation is refused. False if all of them gave up already.
inline bool start_chain(const waiter_ptr& head) noexcept {
  bool any = false;
  for (waiter_base* w = head.get(); w; w = w->next().get()) any = w->start() || any;
  return any;
}

// Whether some caller of the chain `head` has not given up.
inline bool chain_wanted(const waiter_ptr& head) noexcept {
  for (waiter_base* w = head.get(); w; w = w->next().get())
    if (!w->gave_up()) return true;
  return false;
}

// Answers every caller of the chain `head` with `value` (copies for all but
// the last; chains of more than one only form where the value is copyable),
// in place: the chain stays with its entry. First each caller claims its
// answer, then `claimed(taken, value)` runs (whether any took it: the books
// count the outcome, so that they agree with what the callers are told however
// soon they run), then the callers who claimed it complete. `dispatch`: see
// waiter::answer.
template <class R, class Claimed>
void answer_chain(const waiter_ptr& head, reply_result<R>&& value, bool dispatch,
                  Claimed&& claimed) {
  using T = reply_result<R>;
  if (!head) return claimed(false, std::as_const(value));
  if (!head->next()) {  // one caller: no list of who claimed
    const bool taken = typed<T>(head)->claim_answer();
    claimed(taken, std::as_const(value));
    if (taken) typed<T>(head)->complete_answer(std::move(value), dispatch);
    return;
  }
  boost::container::small_vector<waiter_base*, 4> taken;
  for (waiter_base* w = head.get(); w; w = w->next().get())
    if (static_cast<waiter<T>*>(w)->claim_answer()) taken.push_back(w);
  claimed(!taken.empty(), std::as_const(value));
  for (std::size_t i = 0; i < taken.size(); ++i) {
    auto* w = static_cast<waiter<T>*>(taken[i]);
    if constexpr (std::is_copy_constructible_v<T>) {
      if (i + 1 < taken.size()) {
        w->complete_answer(T(value), dispatch);
        continue;
      }
    }
    w->complete_answer(std::move(value), dispatch);
  }
}
template <class R>
void answer_chain(const waiter_ptr& head, reply_result<R>&& value, bool dispatch = false) {
  answer_chain<R>(head, std::move(value), dispatch, [](bool, const auto&) {});
}

// Answers the chain `head`, waiting on a request of alternative `index`, with a
// message error.
template <class Def, class Error>
void answer_error(std::size_t index, const waiter_ptr& head, const Error& err) {
  if (!head) return;
  with_alternative<typename Def::request_variant>(index, [&]<class R>() {
    using E = typename R::error_type;
    answer_chain<R>(head, reply_result<R>(boost::system::in_place_error, message_error<E>(err)));
  });
}

// Answers an entry's callers with a message error, whatever its request type.
template <class Def, class Error>
void answer_error(entry<Def>& e, const Error& err) {
  answer_error<Def>(e.request.index(), e.reply, err);
}

// Abandons every caller of the chain `head` (the execution context is gone).
inline void abandon_chain(waiter_ptr head) noexcept {
  while (head) {
    waiter_ptr next = head->take_next();
    head->abandon();
    head = std::move(next);
  }
}

}  // namespace detail
WORKERS_END_NAMESPACE
