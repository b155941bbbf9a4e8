#pragma once

// One queued request: the request itself, its push time, and the callers
// waiting for its result, if any (one, or a chain of them for a dropbox request
// that others were merged into).

#include <workers/clock.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/message_error.hpp>

#include <boost/mp11/algorithm.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>

namespace workers::inline v0::detail {

template <class Def>
struct entry {
  // A constructor, not an aggregate, so that every compiler builds an entry in
  // place (Clang 14 has no parenthesized aggregate initialization): a
  // temporary would destroy a moved-from request under the producers' lock.
  template <class R>
  entry(R&& r, clock::time_point pushed_at, waiter_ptr caller = {})
      : request(std::forward<R>(r)), pushed(pushed_at), reply(std::move(caller)) {}

  typename Def::request_variant request;
  clock::time_point pushed;
  waiter_ptr reply;
  clock::time_point treated{};  // set by the worker when it takes the request
};

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

// Answers every caller of the chain `head` with `value`: copies for all but
// the last. Chains of more than one only form where the value is copyable.
// `dispatch`: see waiter::answer.
template <class R>
void answer_chain(waiter_ptr head, reply_result<R>&& value, bool dispatch = false) {
  while (head) {
    waiter_ptr next = head->take_next();
    if constexpr (std::is_copy_constructible_v<reply_result<R>>) {
      if (next) {
        typed<reply_result<R>>(head)->answer(reply_result<R>(value), dispatch);
        head = std::move(next);
        continue;
      }
    }
    typed<reply_result<R>>(head)->answer(std::move(value), dispatch);
    return;
  }
}

// Answers the chain `head`, waiting on a request of alternative `index`, with a
// message error.
template <class Def, class Error>
void answer_error(std::size_t index, waiter_ptr head, const Error& err) {
  if (!head) return;
  with_alternative<typename Def::request_variant>(index, [&]<class R>() {
    using E = typename R::error_type;
    answer_chain<R>(std::move(head),
                    reply_result<R>(boost::system::in_place_error, message_error<E>(err)));
  });
}

// Answers an entry's callers with a message error, whatever its request type.
template <class Def, class Error>
void answer_error(entry<Def>& e, const Error& err) {
  answer_error<Def>(e.request.index(), std::move(e.reply), err);
}

// Abandons every caller of the chain `head` (the execution context is gone).
inline void abandon_chain(waiter_ptr head) noexcept {
  while (head) {
    waiter_ptr next = head->take_next();
    head->abandon();
    head = std::move(next);
  }
}

}  // namespace workers::inline v0::detail
