// expect: request_parameter
// A Request parameter whose requests have no view is rejected by the concept.
#include "group.hpp"

struct no_views {
  using types = workers::request_types<ping>;
  using view_type = std::string;
};

using bad = workers::make_single<cf_name, no_views, cf_types>;

int main() { return sizeof(bad); }
