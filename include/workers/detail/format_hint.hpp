#pragma once

// Formatting one of the library's types without <workers/format.hpp>: fmt
// would say "Cannot format an argument" from deep inside fmt, with no hint of
// the header. Each type's own header marks it here; the specialization below
// stands in for the real formatter until <workers/format.hpp> declares it, and
// turns the mistake into one sentence that names the type (in the
// instantiation context the compiler prints with it).

#include <workers/detail/config.hpp>

#include <fmt/core.h>

WORKERS_BEGIN_NAMESPACE
namespace detail {
// The types <workers/format.hpp> gives a formatter; specialized next to each type.
template <class T>
inline constexpr bool formatted_by_format_header = false;
template <class T>
inline constexpr bool format_header_missing = false;
}  // namespace detail
WORKERS_END_NAMESPACE

/// @cond
// <workers/format.hpp> declares explicit or more specialized formatters, which
// fmt picks over this one wherever that header is included.
template <class T, class Char>
requires workers::detail::formatted_by_format_header<T>
struct fmt::formatter<T, Char, void> {
  // Not a template: one instantiation, one error, whichever context fmt parses with.
  constexpr auto parse(fmt::format_parse_context& ctx) {
    static_assert(workers::detail::format_header_missing<T>,
                  "workers: include <workers/format.hpp> to format the library's types");
    return ctx.begin();
  }
  template <class FormatContext>
  auto format(const T&, FormatContext& ctx) const {
    return ctx.out();
  }
};
/// @endcond
