#pragma once

// The three parameters of a group, with the types derived from them.

#include <workers/concepts.hpp>

#include <string>
#include <variant>

namespace workers::detail {

template <class List>
struct variant_of;
template <class... R>
struct variant_of<request_types<R...>> {
  using type = std::variant<R...>;
};

template <name_parameter Name, request_parameter Request, types_parameter Types>
struct group_def {
  using name_param = Name;
  using request_param = Request;
  using types_param = Types;
  using name_type = typename Name::type;
  using request_variant = typename variant_of<typename Request::types>::type;
  using request_view = typename Request::view_type;
  using state_type = typename Types::state_type;
  using parameters_type = typename Types::parameters_type;
  using state_view = typename Types::view_type;

  // `<base joined by '-'>`, as upstream names its event sections.
  static std::string base_name() {
    std::string out;
    for (std::string_view part : Name::base) {
      if (!out.empty()) out += '-';
      out += part;
    }
    return out;
  }
  static std::string full_name(const name_type& name) {
    return fmt::format("{}_{}", base_name(), name);
  }
};

}  // namespace workers::detail
