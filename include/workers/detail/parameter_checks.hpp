#pragma once

// The three parameters of a group checked one requirement at a time, so that a
// mistake reads as one sentence, in the instantiation of a check that names
// the user's type (`name_parameter_check<my_name>`), rather than as a dump of
// the concept. Each check reports only its first unmet requirement: the later
// conditions hold vacuously once an earlier one failed. The checks only
// report: `make_group` and `make_worker` derive from them (empty bases) and
// choose their definition by the `*_ok` traits, never by a check's members
// (Clang takes a class whose static_assert failed for invalid, and every
// constant read from it for another error); with an unmet requirement they use
// a stand-in definition, so that nothing else fails after the sentence.

#include <workers/concepts.hpp>
#include <workers/detail/config.hpp>

#include <boost/mp11/algorithm.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

WORKERS_BEGIN_NAMESPACE
namespace detail {

template <class N>
concept has_type_member = requires {
  typename N::type;
};
template <class N>
concept has_base_member = requires {
  N::base;
};
template <class N>
concept base_is_string_range = string_range<decltype(N::base)>;
template <class N>
concept type_is_worker_name = worker_name<typename N::type>;
template <class R>
concept result_and_error_ok =
    movable_object<typename R::result_type> && error_type<typename R::error_type>;
template <class Q>
concept types_is_request_list = is_request_types<typename Q::types>;
template <class T>
concept view_type_ok = std::copyable<typename T::view_type> && formattable<typename T::view_type>;
template <class T>
concept state_and_parameters_are_objects =
    std::is_object_v<typename T::state_type> && std::is_object_v<typename T::parameters_type>;

template <class Name>
struct name_parameter_check {
  static constexpr bool a = has_type_member<Name>;
  static_assert(a, "workers: Name needs `using type = ...;`, the type naming one worker");
  static constexpr bool b = a && has_base_member<Name>;
  static_assert(!a || b,
                "workers: Name needs `static constexpr std::string_view base[] = {...};`, the "
                "group's path in full names and events");
  static constexpr bool c = b && base_is_string_range<Name>;
  static_assert(!b || c,
                "workers: Name::base must be a range of strings, e.g. "
                "`static constexpr std::string_view base[] = {\"node\", \"worker\"};`");
  static constexpr bool d = c && type_is_worker_name<Name>;
  static_assert(!c || d,
                "workers: Name::type must be copyable, equality-comparable, hashable "
                "(std::hash) and formattable with fmt (a fmt::formatter)");
};
template <class Name>
inline constexpr bool name_parameter_ok = has_type_member<Name>&& has_base_member<Name>&&
    base_is_string_range<Name>&& type_is_worker_name<Name>;

template <class Q, class R>
struct request_type_check {
  static constexpr bool a = has_result_and_error<R>;
  static_assert(a,
                "workers: a request type needs `using result_type = ...;` and "
                "`using error_type = ...;`");
  static constexpr bool b = a && movable_object<R> && std::is_move_assignable_v<R>;
  static_assert(!a || b,
                "workers: a request type must be move-constructible and move-assignable "
                "(queues and dropboxes move requests in and out)");
  static constexpr bool c = b && result_and_error_ok<R>;
  static_assert(!b || c,
                "workers: a request's result_type must be move-constructible, and its "
                "error_type move-constructible and default-constructible (or never)");
  static constexpr bool d = c && viewable_request<Q, R>;
  static_assert(!c || d,
                "workers: Request needs `static view_type view(const R&)` for each "
                "request type R");
};
template <class Q, class R>
inline constexpr bool request_type_ok = has_result_and_error<R>&& movable_object<R>&&
    std::is_move_assignable_v<R>&& result_and_error_ok<R>&& viewable_request<Q, R>;

// Each request type of `Types` checked on its own (indexed: a type listed
// twice is still one base per place).
template <class Q, class R, std::size_t I>
struct request_type_check_at : request_type_check<Q, R> {};
template <class Q, class Seq, class... R>
struct each_request_check_at;
template <class Q, std::size_t... I, class... R>
struct each_request_check_at<Q, std::index_sequence<I...>, R...>
    : request_type_check_at<Q, R, I>... {};
template <class Q, class Types>
struct each_request_check {};
template <class Q, class... R>
struct each_request_check<Q, request_types<R...>>
    : each_request_check_at<Q, std::index_sequence_for<R...>, R...> {};
template <class Q, class Types>
inline constexpr bool each_request_ok = false;
template <class Q, class... R>
inline constexpr bool each_request_ok<Q, request_types<R...>> = (request_type_ok<Q, R> && ...);

// The request types are checked once the Request's own members are there.
template <class Request>
inline constexpr bool request_members_ok =
    has_types_and_view<Request>&& types_is_request_list<Request>&& view_type_ok<Request>;
template <class Request, bool = request_members_ok<Request>>
struct request_types_check {};
template <class Request>
struct request_types_check<Request, true> : each_request_check<Request, typename Request::types> {};

template <class Request>
struct request_parameter_check : request_types_check<Request> {
  static constexpr bool a = has_types_and_view<Request>;
  static_assert(a,
                "workers: Request needs `using types = workers::request_types<...>;` and "
                "`using view_type = ...;`");
  static constexpr bool b = a && types_is_request_list<Request>;
  static_assert(!a || b, "workers: Request::types must be workers::request_types<R...>");
  static constexpr bool c = b && view_type_ok<Request>;
  static_assert(!b || c, "workers: Request::view_type must be copyable and formattable with fmt");
};
template <class Request>
inline constexpr bool request_parameter_ok = [] {
  if constexpr (request_members_ok<Request>)
    return each_request_ok<Request, typename Request::types>;
  else
    return false;
}();

template <class Types>
struct types_parameter_check {
  static constexpr bool a = has_state_parameters_view<Types>;
  static_assert(a,
                "workers: Types needs `using state_type = ...;`, `using parameters_type = "
                "...;` and `using view_type = ...;`");
  static constexpr bool b = a && state_and_parameters_are_objects<Types>;
  static_assert(!a || b,
                "workers: Types::state_type and Types::parameters_type must be object "
                "types (not references, functions or void)");
  static constexpr bool c = b && view_type_ok<Types>;
  static_assert(!b || c, "workers: Types::view_type must be copyable and formattable with fmt");
  static constexpr bool d = c && state_viewable<Types>;
  static_assert(!c || d,
                "workers: Types needs `static view_type view(const state_type&, const "
                "parameters_type&)`");
};
template <class Types>
inline constexpr bool types_parameter_ok = has_state_parameters_view<Types>&&
    state_and_parameters_are_objects<Types>&& view_type_ok<Types>&& state_viewable<Types>;

// What a group with an unmet requirement is defined as, once its sentence is
// out: enough for the types users name to exist without further errors.
struct invalid_group_def {
  struct invalid {};
  using request_param = invalid;
  using name_type = invalid;
  using request_variant = invalid;
  using request_view = invalid;
  using state_type = invalid;
  using parameters_type = invalid;
  using state_view = invalid;
};

}  // namespace detail
WORKERS_END_NAMESPACE
