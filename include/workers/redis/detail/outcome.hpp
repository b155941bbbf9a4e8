#pragma once

// What a delivery's request came to, read from the reply its caller got: the
// one oracle that decides the settlement (consumer_core.hpp).

#include <workers/detail/config.hpp>
#include <workers/message_error.hpp>

#include <fmt/format.h>

#include <concepts>
#include <exception>
#include <string>
#include <variant>

WORKERS_BEGIN_NAMESPACE
namespace redis {
namespace detail {

struct outcome {
  enum kind { handled, retry, permanent, closed } what;
  std::string reason;
};

// An error is retryable if it says so: a member `retryable()`, or a free
// `retryable(e)` found by ADL. Otherwise it is permanent.
template <class E>
bool is_retryable(const E& e) {
  if constexpr (requires {
                  { e.retryable() } -> std::convertible_to<bool>;
                })
    return e.retryable();
  else if constexpr (requires {
                       { retryable(e) } -> std::convertible_to<bool>;
                     })
    return retryable(e);
  else
    return false;
}

template <class E>
std::string describe(const E& e) {
  if constexpr (fmt::is_formattable<E>::value)
    return fmt::format("request error: {}", e);
  else
    return "request error";
}

inline std::string describe(const std::exception_ptr& ep) {
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return std::string("handler threw: ") + e.what();
  } catch (...) {
  }
  return "handler threw";
}

// Handled; a request error (retryable or not); a handler that threw (retried:
// the worker crashed, and may be restarted); the worker closed before the
// request was handled, or cut it (the delivery stays pending).
template <class R>
outcome outcome_of(const reply_result<R>& r) {
  if (r.has_value()) return {outcome::handled, {}};
  const auto& e = r.error();
  if (e.is_request_error())
    return {is_retryable(e.error()) ? outcome::retry : outcome::permanent, describe(e.error())};
  if (const auto* x = std::get_if<handler_exception>(&e))
    return {outcome::retry, describe(x->exception)};
  return {outcome::closed, {}};
}

}  // namespace detail
}  // namespace redis
WORKERS_END_NAMESPACE
