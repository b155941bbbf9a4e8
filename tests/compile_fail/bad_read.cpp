// expect: a callback's read must return std::optional<any_request>
// errors: 1
// A read returning a bare request (no way to say "end of the source") is refused.
#include "group.hpp"

int main() {
  auto table = cf_group::create_table(
      workers::callback_source{[](auto&) { return cf_group::any_request(ping{}); }});
  (void)table;
}
