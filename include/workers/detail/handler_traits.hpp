#pragma once

// What the library needs to know of a handler's return type: whether it is an
// awaitable (and of what), whether it is a result.

#include <workers/detail/config.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class T>
struct awaited {
  using type = T;
  static constexpr bool is_awaitable = false;
};
template <class T, class Executor>
struct awaited<boost::asio::awaitable<T, Executor>> {
  using type = T;
  static constexpr bool is_awaitable = true;
};
// `T`, or what an `asio::awaitable<T>` gives once awaited.
template <class T>
using awaited_t = typename awaited<std::remove_cvref_t<T>>::type;
template <class T>
inline constexpr bool is_awaitable_v = awaited<std::remove_cvref_t<T>>::is_awaitable;

template <class T>
inline constexpr bool is_result = false;
template <class T, class E>
inline constexpr bool is_result<boost::system::result<T, E>> = true;

}  // namespace detail
WORKERS_END_NAMESPACE
