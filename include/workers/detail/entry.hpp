#pragma once

// One queued request: the request itself, its push time, and the caller waiting
// for its result, if any.

#include <workers/clock.hpp>
#include <workers/detail/waiter.hpp>

namespace workers::detail {

template <class Def>
struct entry {
  typename Def::request_variant request;
  clock::time_point pushed;
  waiter_ref reply;
};

// The typed waiter behind an entry's reply (its type follows the request's).
template <class R>
waiter<reply_result<R>>* reply_of(const waiter_ref& w) noexcept {
  return static_cast<waiter<reply_result<R>>*>(w.get());
}

// Answers an entry's caller with a message error, whatever its request type.
template <class Def, class Error>
void answer_error(entry<Def>& e, Error err, bool immediate = false) {
  if (!e.reply) return;
  std::visit(
      [&](const auto& r) {
        using R = std::decay_t<decltype(r)>;
        using E = typename R::error_type;
        reply_of<R>(e.reply)->answer(
            reply_result<R>(boost::system::in_place_error, message_error<E>(std::move(err))),
            immediate);
      },
      e.request);
  e.reply.reset();
}

}  // namespace workers::detail
