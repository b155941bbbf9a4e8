// expect: merge must be callable as .* on a const merge
// errors: 1
// A merge that changes itself is refused: the table keeps one copy, which its workers call on
// their own strands, at the same time.
#include "group.hpp"

int main() {
  auto table = cf_group::create_table(workers::merging_dropbox{
      [count = 0](auto&, cf_group::any_request in, const cf_group::any_request*) mutable {
        ++count;
        return in;
      }});
  (void)table;
}
