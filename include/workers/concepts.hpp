#pragma once

/// @file
/// @brief Concepts for the three parameters of a group: `Name`, `Request`, `Types`.
///
/// Requirements, numbered as the compile errors refer to them:
///
/// **Name** (`name_parameter`)
///   1. `N::base` is a range of strings (the group's path, joined with `-` in names);
///   2. `N::type` names one worker: hashable with `std::hash`, equality-comparable,
///      copyable and formattable with fmt (`workers::unit` qualifies, for a group
///      whose workers need no name, as Octez's block validator).
///
/// **Request** (`request_parameter`)
///   1. `Q::types` is `workers::request_types<R...>`, the closed set of requests;
///   2. every `R` is a `request`: an object type that can be move-constructed and
///      move-assigned (a buffer moves requests in and out of its slots), with
///      `R::result_type` and `R::error_type`, both move-constructible object types
///      (`workers::unit` for "nothing");
///      the error type default-constructible, as `result` needs, or `workers::never`
///      for a request that cannot fail;
///   3. `Q::view_type` is copyable and formattable, and `Q::view(const R&)` returns
///      it for every `R`.
///
/// **Types** (`types_parameter`)
///   1. `T::state_type` and `T::parameters_type` are object types;
///   2. `T::view_type` is copyable and formattable and
///      `T::view(const state_type&, const parameters_type&)` returns it.
///
/// A minimal conforming set:
/// @code
/// struct name { static constexpr std::string_view base[] = {"demo"}; using type = std::string; };
/// struct ping { using result_type = int; using error_type = std::string; };
/// struct requests {
///   using types = workers::request_types<ping>;
///   using view_type = std::string;
///   static view_type view(const ping&) { return "ping"; }
/// };
/// struct types {
///   using state_type = int;
///   using parameters_type = int;
///   using view_type = int;
///   static int view(const int& state, const int&) { return state; }
/// };
/// @endcode

#include <workers/detail/config.hpp>

#include <boost/mp11/algorithm.hpp>
#include <boost/mp11/list.hpp>

#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <functional>
#include <ranges>
#include <string_view>
#include <type_traits>

WORKERS_BEGIN_NAMESPACE

/// @brief The closed set of request types a group accepts.
template <class... R>
struct request_types {};

/// @brief The result of a request that answers nothing (OCaml's `unit`); also
/// a worker name type for groups whose workers need none. Equality-comparable,
/// hashable (`std::hash`), and formattable with fmt or streams (it prints `()`).
struct unit {
  friend bool operator==(unit, unit) noexcept = default;
  template <class Stream>
  friend Stream& operator<<(Stream& os, unit) {
    os << "()";
    return os;
  }
};

/// @brief The error type of a request that cannot fail (OCaml's empty type):
/// no value of it exists, so its `request_error` case never happens.
/// Formattable with fmt, so that the error types of a set all print.
struct never {
  never() = delete;
  friend bool operator==(const never&, const never&) noexcept = default;
};

/// @brief A type fmt can format.
template <class T>
concept formattable = fmt::is_formattable<T>::value;

namespace detail {
template <class R>
concept has_result_and_error = requires {
  typename R::result_type;
  typename R::error_type;
};
template <class T>
concept movable_object = std::is_object_v<T> && std::move_constructible<T>;
template <class T>
concept hashable = requires(const T& t) {
  { std::hash<T>{}(t) } -> std::convertible_to<std::size_t>;
};
template <class N>
concept has_base_and_type = requires {
  typename N::type;
  N::base;
};
template <class N>
concept string_range =
    std::ranges::range<N> && std::convertible_to<std::ranges::range_value_t<N>, std::string_view>;
template <class Q>
concept has_types_and_view = requires {
  typename Q::types;
  typename Q::view_type;
};
template <class T>
concept has_state_parameters_view = requires {
  typename T::state_type;
  typename T::parameters_type;
  typename T::view_type;
};
template <class T>
concept state_viewable = requires(const typename T::state_type& s,
                                  const typename T::parameters_type& p) {
  { T::view(s, p) } -> std::convertible_to<typename T::view_type>;
};
}  // namespace detail

namespace detail {
// An error type `result` can carry (it default-constructs it), or `never`.
template <class E>
concept error_type = movable_object<E> &&
    (std::is_default_constructible_v<E> || std::is_same_v<std::remove_cv_t<E>, never>);
}  // namespace detail

/// @brief Request requirement 2: one request type with its result and error types.
template <class R>
concept request =
    detail::movable_object<R> && std::is_move_assignable_v<R> && detail::has_result_and_error<R> &&
    detail::movable_object<typename R::result_type> && detail::error_type<typename R::error_type>;

/// @brief Name requirement 2: the type naming one worker.
template <class T>
concept worker_name =
    std::copyable<T> && std::equality_comparable<T> && formattable<T> && detail::hashable<T>;

/// @brief The `Name` parameter of a group.
template <class N>
concept name_parameter = detail::has_base_and_type<N> && detail::string_range<decltype(N::base)> &&
    worker_name<typename N::type>;

namespace detail {
template <class T>
inline constexpr bool is_request_types = false;
template <class... R>
inline constexpr bool is_request_types<request_types<R...>> = true;

template <class Q, class R>
concept viewable_request = request<R> && requires(const R& r) {
  { Q::view(r) } -> std::convertible_to<typename Q::view_type>;
};

template <class Q>
struct viewable_in {
  template <class R>
  using fn = std::bool_constant<viewable_request<Q, R>>;
};
template <class Q>
inline constexpr bool all_viewable =
    boost::mp11::mp_all_of_q<typename Q::types, viewable_in<Q>>::value;
}  // namespace detail

/// @brief The `Request` parameter of a group.
template <class Q>
concept request_parameter = detail::has_types_and_view<Q> &&
    detail::is_request_types<typename Q::types> && std::copyable<typename Q::view_type> &&
    formattable<typename Q::view_type> && detail::all_viewable<Q>;

/// @brief `R` is one of the requests of the set `Q`.
template <class R, class Q>
concept request_of = boost::mp11::mp_contains<typename Q::types, std::remove_cvref_t<R>>::value;

/// @brief Whether the handler of a request of type `R` sees its caller's
/// cancellation: opt in with `static constexpr bool cancel_with_caller = true;`
/// in `R`. Then, when the caller of a push-and-wait cancels (terminal or
/// partial) while an awaitable `on_request` handles the request, the handler's
/// awaited operations are cancelled (terminal), and what the handler returns
/// or throws then is that cancellation, not a crash. Without it the handler
/// runs to its end.
template <class R>
inline constexpr bool cancels_with_caller = [] {
  if constexpr (requires { R::cancel_with_caller; })
    return static_cast<bool>(R::cancel_with_caller);
  else
    return false;
}();

/// @brief Whether requests of type `R` are control requests: opt in with
/// `static constexpr bool control = true;` in `R` (CAF's `urgent`, OTP 28's
/// priority messages, Akka's `ControlMessage`). Whatever the buffer kind, a
/// control request is taken before every ordinary request still waiting, in
/// the order control requests were pushed; a bounded queue's capacity never
/// holds it back (its push never waits for room) and a dropbox never merges
/// it (it waits beside the slot, its callers its own). Introspection lists it
/// first, with `pending_request::control` set. A group with no control type
/// pays nothing for the lane.
template <class R>
inline constexpr bool is_control_request = [] {
  if constexpr (requires { R::control; })
    return static_cast<bool>(R::control);
  else
    return false;
}();

/// @brief The `Types` parameter of a group.
template <class T>
concept types_parameter =
    detail::has_state_parameters_view<T> && std::is_object_v<typename T::state_type> &&
    std::is_object_v<typename T::parameters_type> && std::copyable<typename T::view_type> &&
    formattable<typename T::view_type> && detail::state_viewable<T>;

WORKERS_END_NAMESPACE

// Specializations of other libraries' templates, described with the types they
// serve: Doxygen cannot place them (it does not know fmt's namespace).
/// @cond
template <>
struct std::hash<workers::unit> {
  std::size_t operator()(workers::unit) const noexcept { return 0; }
};

template <>
struct fmt::formatter<workers::unit> : fmt::formatter<std::string_view> {
  auto format(workers::unit, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format("()", ctx);
  }
};

template <>
struct fmt::formatter<workers::never> : fmt::formatter<std::string_view> {
  auto format(const workers::never&, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format("never", ctx);
  }
};
/// @endcond
