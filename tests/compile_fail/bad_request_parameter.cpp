// expect: request_type_check<no_views, ping>.*Request needs `static view_type view|Request needs `static view_type view.*request_type_check<no_views, ping>
// errors: 1
// A Request parameter whose requests have no view is refused with one sentence; its
// instantiation context names the Request and the request type.
#include "group.hpp"

struct no_views {
  using types = workers::request_types<ping>;
  using view_type = std::string;
};

using bad = workers::make_single<cf_name, no_views, cf_types>;

int main() { return sizeof(bad); }
