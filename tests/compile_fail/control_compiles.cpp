// expect: COMPILES
// The control: the same group, used correctly, compiles: every operation on the kind it is
// for, handlers taking their request by const reference, by value and by rvalue, and the
// library's types formatted once <workers/format.hpp> is included.
#include "group.hpp"

#include <workers/format.hpp>

#include <fmt/format.h>

#include <optional>

struct by_value_and_rvalue {
  workers::result<int, std::string> on_request(cf_worker&, ping) { return 1; }
  workers::result<int, std::string> on_request(cf_worker&, pong&&) { return 2; }
};

boost::asio::awaitable<void> waits(cf_worker q, cf_group::worker<workers::dropbox> d) {
  co_await workers::push_request(q, ping{});
  auto a = co_await workers::push_request_and_wait(q, ping{});
  auto b = co_await workers::put_request_and_wait(d, pong{});
  (void)a;
  (void)b;
}

int main() {
  launch_with(cf_handlers{});
  launch_with(by_value_and_rvalue{});
  cf_worker w;
  if (w) {
    workers::push_request_now(w, ping{});
    (void)fmt::format("{} {}", workers::status(w), workers::information(w));
  }
  cf_group::worker<workers::queue<workers::bounded>> b;
  if (b) workers::try_push_request_now(b, ping{});
  auto dropbox = cf_group::create_table(workers::merging_dropbox{
      [](auto&, cf_group::any_request in, const cf_group::any_request*) { return in; }});
  auto callback = cf_group::create_table(workers::callback_source{
      [](auto&) -> std::optional<cf_group::any_request> { return std::nullopt; }});
  cf_group::worker<workers::dropbox> d;
  if (d) workers::put_request(d, ping{});
  (void)&waits;
  return dropbox.size() + callback.size() == 0 ? 0 : 1;
}
