#pragma once

// The three parameters of a group, with the types derived from them.

#include <workers/concepts.hpp>
#include <workers/detail/config.hpp>

#include <boost/mp11/algorithm.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace detail {

// Instantiated only once the parameter checks passed (see parameter_checks.hpp).
template <class Name, class Request, class Types>
struct group_def {
  using request_param = Request;
  using name_type = typename Name::type;
  using request_variant = boost::mp11::mp_rename<typename Request::types, std::variant>;
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
  // `Name::base`, as events carry it.
  static std::vector<std::string> section() {
    std::vector<std::string> out;
    for (std::string_view part : Name::base) out.emplace_back(part);
    return out;
  }
  static std::string full_name(const name_type& name) {
    return fmt::format("{}_{}", base_name(), name);
  }
  // A request's view (`Request::view`), whatever its type.
  static request_view view_of(const request_variant& r) {
    return std::visit([](const auto& x) -> request_view { return Request::view(x); }, r);
  }
  // The state as introspection shows it (`Types::view`).
  static state_view view_state(const state_type& state, const parameters_type& parameters) {
    return Types::view(state, parameters);
  }
};

}  // namespace detail
WORKERS_END_NAMESPACE
