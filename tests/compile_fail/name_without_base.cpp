// expect: name_parameter_check<no_base>.*Name needs `static constexpr .* base|Name needs `static constexpr .* base.*name_parameter_check<no_base>
// errors: 1
// A Name parameter without its `base` (the group's path) is refused with one sentence that names
// the type, not a dump of the concept.
#include "group.hpp"

struct no_base {
  using type = std::string;
};
using bad = workers::make_single<no_base, cf_requests, cf_types>;
int main() { return sizeof(bad) == 0; }
