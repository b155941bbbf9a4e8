// expect: a dropbox's merge must return workers::merged<any_request>
// errors: 1
// A merge returning something else is refused when the table is created, with a readable message.
#include "group.hpp"

int main() {
  auto table = cf_group::create_table(workers::merging_dropbox{
      [](auto&, cf_group::any_request, const cf_group::any_request*) { return 42; }});
  (void)table;
}
