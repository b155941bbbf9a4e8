// expect: COMPILES
// The control: the same group, used correctly, compiles.
#include "group.hpp"

#include <optional>

int main() {
  launch_with(cf_handlers{});
  cf_worker w;
  if (w) workers::push_request_now(w, ping{});
  auto dropbox = cf_group::create_table(workers::merging_dropbox{
      [](auto&, cf_group::any_request in, const cf_group::any_request*) { return in; }});
  auto callback = cf_group::create_table(workers::callback_source{
      [](auto&) -> std::optional<cf_group::any_request> { return std::nullopt; }});
  cf_group::worker<workers::dropbox> d;
  if (d) workers::put_request(d, ping{});
  return dropbox.size() + callback.size() == 0 ? 0 : 1;
}
