#pragma once

// The parts of the handlers concept, one per member (upstream's `HANDLERS`
// module type); `workers::handlers_for` combines them.

#include <workers/close_reason.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/handler_traits.hpp>
#include <workers/message_error.hpp>
#include <workers/status.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
class error_action;
WORKERS_END_NAMESPACE

WORKERS_BEGIN_NAMESPACE
namespace detail {

// `X` is `T`, or an `asio::awaitable<T>`: what a handler returning `T` may return.
template <class X, class T>
concept returns = std::same_as<awaited_t<X>, T>;

// on_request takes its request as `const R&` (or a type that binds it): the
// worker passes the queued request in place.
template <class H, class Self, class R>
concept on_request_by_ref = requires(H& h, Self& self, const R& r) {
  h.on_request(self, r);
};
// on_request takes its request as `R&&` (or as `R`, of a move-only type): the
// worker moves it out of the queue, so the handler may move its payload on. A
// by-value `R` of a copyable type also binds `const R&`, which C++ cannot tell
// apart from it: it gets a copy.
template <class H, class Self, class R>
concept on_request_by_rvalue =
    !on_request_by_ref<H, Self, R> && requires(H & h, Self& self, R&& r) {
  h.on_request(self, std::move(r));
};
template <class H, class Self, class R>
concept has_on_request = on_request_by_ref<H, Self, R> || on_request_by_rvalue<H, Self, R>;
// on_request takes `R&`: a reference to the queued request that others read.
template <class H, class Self, class R>
concept on_request_by_mutable_ref =
    !has_on_request<H, Self, R> && requires(H & h, Self& self, R& r) {
  h.on_request(self, r);
};

// The request as on_request takes it.
template <class H, class Self, class R>
using on_request_arg = std::conditional_t<on_request_by_ref<H, Self, R>, const R&, R&&>;
template <class H, class Self, class R>
using on_request_t = decltype(std::declval<H&>().on_request(
    std::declval<Self&>(), std::declval<on_request_arg<H, Self, R>>()));

template <class H, class Self, class R>
concept on_request_handler = has_on_request<H, Self, R> &&
    returns<on_request_t<H, Self, R>, result<typename R::result_type, typename R::error_type>>;

template <class H, class Self, class Name, class Parameters>
concept has_on_launch = requires(H& h, Self& self, const Name& n, const Parameters& p) {
  h.on_launch(self, n, p);
};

template <class H, class Self, class R>
concept has_on_completion = requires(H& h, Self& self, const R& r, const typename R::result_type& v,
                                     const request_status& s) {
  { h.on_completion(self, r, v, s) } -> returns<void>;
};

template <class H, class Self, class R>
concept has_on_error = requires(H& h, Self& self, const request_status& s, const R& r,
                                const typename R::error_type& e) {
  { h.on_error(self, s, r, e) } -> returns<error_action>;
};

template <class H, class Self>
concept has_on_close_with_reason = requires(H& h, Self& self, const close_reason& why) {
  { h.on_close(self, why) } -> returns<void>;
};

template <class H, class Self>
concept has_on_close = has_on_close_with_reason<H, Self> || requires(H& h, Self& self) {
  { h.on_close(self) } -> returns<void>;
};

template <class H, class Self>
concept has_on_no_request = requires(H& h, Self& self) {
  { h.on_no_request(self) } -> returns<void>;
};

}  // namespace detail
WORKERS_END_NAMESPACE
