// expect: COMPILES
// The control: the same group, used correctly, compiles.
#include "group.hpp"

int main() {
  launch_with(cf_handlers{});
  cf_worker w;
  if (w) workers::push_request_now(w, ping{});
}
