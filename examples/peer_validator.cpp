// Peer validators on dropboxes, as in the Octez node: each peer announces new
// heads and new branches faster than its validator can fetch them. The
// validator only needs the latest news, so each put is merged into the one
// pending request: a slow validator sees one request instead of a backlog.
//
// The merge reads the worker's state (it runs on the worker's strand) to drop
// heads it already knows, and says which waiting callers follow the merged
// request; the others get `request_dropped`.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;

struct peer_name {
  static constexpr std::string_view base[] = {"validator", "peer"};
  using type = std::string;  // the peer's id
};

// A peer announced a new head (a block at a level).
struct new_head {
  using result_type = int;  // the level known once handled
  using error_type = std::string;
  int level;
};
// A peer announced a new branch: a head and the locator to fetch it from.
struct new_branch {
  using result_type = int;
  using error_type = std::string;
  int level;
  int locator_length;
};
struct peer_requests {
  using types = workers::request_types<new_head, new_branch>;
  using view_type = std::string;
  static std::string view(const new_head& r) { return fmt::format("head {}", r.level); }
  static std::string view(const new_branch& r) {
    return fmt::format("branch {} ({} blocks)", r.level, r.locator_length);
  }
};

struct peer_state {
  int known_level = 0;
  int fetched = 0;  // requests handled
};
struct peer_types {
  using state_type = peer_state;
  using parameters_type = std::chrono::milliseconds;  // simulated fetch time
  using view_type = std::string;
  static std::string view(const peer_state& s, const std::chrono::milliseconds&) {
    return fmt::format("level {}, {} fetches", s.known_level, s.fetched);
  }
};

using peer_validator = workers::make_single<peer_name, peer_requests, peer_types>;
using peer_worker = peer_validator::worker<workers::dropbox>;
using any_request = peer_validator::any_request;
using merged = workers::merged<any_request>;

int level_of(const any_request& r) {
  return std::visit([](const auto& x) { return x.level; }, r);
}

// The merge, on the worker's strand:
//  - news at or below the level already known is dropped (empty slot or pending kept);
//  - a branch replaces whatever is pending: it says more than any head;
//  - a head onto a pending branch is dropped, the branch stays;
//  - a newer head replaces an older one, and both callers follow it (same type).
merged merge(peer_worker& self, any_request incoming, const any_request* pending) {
  if (level_of(incoming) <= workers::state(self).known_level)
    return pending ? merged::keep_pending() : merged::empty();
  if (std::holds_alternative<new_branch>(incoming) || !pending) return incoming;
  if (std::holds_alternative<new_branch>(*pending)) return merged::keep_pending();
  return {std::move(incoming), workers::follow::both};
}

struct peer_handlers {
  using reply = workers::result<int, std::string>;
  asio::awaitable<reply> fetch(peer_worker& self, int level) {
    asio::steady_timer fetching(co_await asio::this_coro::executor, self.parameters());
    co_await fetching.async_wait(asio::use_awaitable);
    auto& s = workers::state(self);
    s.known_level = std::max(s.known_level, level);
    ++s.fetched;
    co_return reply(s.known_level);
  }
  asio::awaitable<reply> on_request(peer_worker& self, const new_head& r) {
    co_return co_await fetch(self, r.level);
  }
  asio::awaitable<reply> on_request(peer_worker& self, const new_branch& r) {
    co_return co_await fetch(self, r.level);
  }
};

asio::awaitable<int> run(peer_validator::table<workers::dropbox> table) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<peer_worker> peers;
  for (std::string id : {"alice", "bob", "carol"}) {
    auto r = co_await workers::launch(table, ex, std::move(id), std::chrono::milliseconds(2),
                                      peer_handlers{});
    if (!r) throw std::runtime_error(fmt::format("{}", r.error()));
    peers.push_back(*r);
  }

  // Each peer announces 200 heads, one tick apart, and a branch in the middle:
  // far more than a 2 ms fetch can follow.
  constexpr int announcements = 200;
  asio::steady_timer tick(ex);
  for (int level = 1; level <= announcements; ++level) {
    for (auto& p : peers) {
      if (level == announcements / 2)
        workers::put_request(p, new_branch{level, 12});
      else
        workers::put_request(p, new_head{level});
    }
    tick.expires_after(std::chrono::microseconds(50));
    co_await tick.async_wait(asio::use_awaitable);
  }

  // The last announcement waits for its outcome: the level it reaches.
  int failures = 0;
  for (auto& p : peers) {
    auto reached = co_await workers::put_request_and_wait(p, new_head{announcements + 1});
    const auto fetched = co_await workers::with_state(p, [](peer_state& s) { return s.fetched; });
    if (!reached || *reached != announcements + 1 || !fetched || *fetched >= announcements) {
      fmt::print("error: {} reached {}, fetched {}\n", p.full_name(), reached ? *reached : -1,
                 fetched.value_or(-1));
      ++failures;
      continue;
    }
    fmt::print("{}: {} announcements merged into {} fetches, level {}\n", p.full_name(),
               announcements + 1, *fetched, *reached);
  }

  // A caller whose announcement is merged away is answered `dropped`, never left waiting.
  auto& alice = peers.front();
  auto stale = co_await workers::put_request_and_wait(alice, new_head{1});
  if (stale || !stale.error().is_dropped()) {
    fmt::print("error: a stale head was not dropped\n");
    ++failures;
  } else {
    fmt::print("a stale head was answered: {}\n", stale.error());
  }

  for (auto& p : peers) co_await workers::shutdown(p);
  fmt::print("{} validators left in the table\n", table.size());
  co_return failures == 0 ? 0 : 1;
}

int main() {
  asio::io_context io;
  auto table = peer_validator::create_table(workers::merging_dropbox{merge});
  auto done = asio::co_spawn(io, run(table), asio::use_future);
  io.run();
  return done.get();
}
