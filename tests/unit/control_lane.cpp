// Control requests (`is_control_request`): taken before every ordinary
// request still waiting, FIFO among themselves, on every buffered kind; never
// held back by a bounded queue's capacity, never merged by a dropbox; listed
// first by introspection; answered `closed` at an abort, handled in a drain.

#include "support/catch.hpp"

#include <workers/table_shutdown.hpp>
#include <workers/testing.hpp>
#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace control_lane_tests {

namespace asio = boost::asio;
using boost::system::error_code;
using workers::testing::run_until_idle;

struct job {
  using result_type = int;
  using error_type = std::string;
  int id;
};
struct ping {
  using result_type = int;
  using error_type = std::string;
  static constexpr bool control = true;
  int id;
};
static_assert(workers::is_control_request<ping> && !workers::is_control_request<job>);

struct ctl_name {
  static constexpr std::string_view base[] = {"test", "ctl"};
  using type = std::string;
};
struct ctl_requests {
  using types = workers::request_types<job, ping>;
  using view_type = std::string;
  static std::string view(const job& r) { return fmt::format("job {}", r.id); }
  static std::string view(const ping& r) { return fmt::format("ping {}", r.id); }
};
struct ctl_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using ctl = workers::make_single<ctl_name, ctl_requests, ctl_types>;

// Logs what it handles, in order.
struct ctl_handlers {
  std::shared_ptr<std::vector<std::string>> handled = std::make_shared<std::vector<std::string>>();
  template <class W>
  int on_launch(W&, const std::string&, const int&) {
    return 0;
  }
  template <class W, class R>
  workers::result<int, std::string> on_request(W&, const R& r) {
    handled->push_back(ctl_requests::view(r));
    return r.id;
  }
};

template <class Table>
auto launch(asio::io_context& io, const Table& t, ctl_handlers& h) {
  std::optional<typename Table::worker_type> w;
  workers::launch(t, io, "w", 0, h, {}, [&](auto r) { w.emplace(std::move(r).value()); });
  run_until_idle(io);
  REQUIRE(w);
  io.restart();
  return *w;
}

std::vector<std::string> views(const auto& pending) {
  std::vector<std::string> out;
  for (const auto& p : pending) out.push_back(p.view + (p.control ? " (control)" : ""));
  return out;
}

TEST_CASE("control_lane: control requests are taken first, in their order", "[control_lane]") {
  asio::io_context io;
  auto table = ctl::create_table(workers::infinite_queue{});
  ctl_handlers h;
  auto w = launch(io, table, h);
  for (int i = 0; i < 3; ++i) REQUIRE(workers::push_request_now(w, job{i}));
  std::optional<int> pinged;
  workers::push_request_and_wait(w, ping{0}, [&](auto r) { pinged = r.value(); });
  REQUIRE(workers::push_request_now(w, ping{1}));
  CHECK(views(workers::pending_requests(w)) == std::vector<std::string>{"ping 0 (control)",
                                                                        "ping 1 (control)", "job 0",
                                                                        "job 1", "job 2"});
  CHECK(workers::pending_requests_length(w) == 5);
  run_until_idle(io);
  CHECK(*h.handled == std::vector<std::string>{"ping 0", "ping 1", "job 0", "job 1", "job 2"});
  CHECK(pinged == 0);
}

TEST_CASE("control_lane: a control request pushed behind a million is next", "[control_lane]") {
  asio::io_context io;
  auto table = ctl::create_table(workers::infinite_queue{});
  ctl_handlers h;
  auto w = launch(io, table, h);
  constexpr int backlog = 1'000'000;
  for (int i = 0; i < backlog; ++i) workers::push_request_now(w, job{i});
  io.run_one();  // one turn of the loop: a fairness budget's worth of jobs
  const std::size_t before = h.handled->size();
  REQUIRE(before > 0);
  REQUIRE(before < static_cast<std::size_t>(backlog));
  workers::push_request_now(w, ping{7});
  io.run_one();
  REQUIRE(h.handled->size() > before);
  CHECK((*h.handled)[before] == "ping 7");
  workers::trigger_shutdown(w);
  run_until_idle(io);
}

TEST_CASE("control_lane: a full bounded queue never holds a control request back",
          "[control_lane]") {
  asio::io_context io;
  auto table = ctl::create_table(workers::bounded_queue{1});
  ctl_handlers h;
  auto w = launch(io, table, h);
  REQUIRE(workers::try_push_request_now(w, job{0}));
  REQUIRE_FALSE(workers::try_push_request_now(w, job{1}));  // full
  REQUIRE(workers::try_push_request_now(w, ping{0}));       // never full
  std::optional<error_code> pushed;
  workers::push_request(w, ping{1}, [&](error_code ec) { pushed = ec; });
  run_until_idle(io);
  REQUIRE(pushed);
  CHECK_FALSE(*pushed);
  CHECK(*h.handled == std::vector<std::string>{"ping 0", "ping 1", "job 0"});
}

TEST_CASE("control_lane: a dropbox never merges a control request", "[control_lane]") {
  asio::io_context io;
  // Each put replaces the last.
  auto table = ctl::create_table(workers::merging_dropbox{
      [](auto&, ctl::any_request incoming, const ctl::any_request*) { return incoming; }});
  ctl_handlers h;
  auto w = launch(io, table, h);
  workers::put_request(w, job{0});
  workers::put_request(w, ping{0});
  workers::put_request(w, job{1});
  workers::put_request(w, ping{1});
  run_until_idle(io);
  CHECK(*h.handled == std::vector<std::string>{"ping 0", "ping 1", "job 1"});
}

TEST_CASE("control_lane: an abort answers waiting control requests closed, a drain handles them",
          "[control_lane]") {
  for (auto mode : {workers::shutdown_mode::abort, workers::shutdown_mode::drain}) {
    asio::io_context io;
    auto table = ctl::create_table(workers::infinite_queue{});
    ctl_handlers h;
    auto w = launch(io, table, h);
    workers::push_request_now(w, job{0});
    std::vector<std::string> answers;
    workers::push_request_and_wait(w, ping{0}, [&](auto r) {
      answers.push_back(r ? "ok" : r.error().is_closed() ? "closed" : "error");
    });
    std::optional<workers::shutdown_report> report;
    workers::shutdown(w, mode, [&](error_code, workers::shutdown_report r) { report = r; });
    run_until_idle(io);
    REQUIRE(report);
    if (mode == workers::shutdown_mode::abort) {
      CHECK(answers == std::vector<std::string>{"closed"});
      CHECK(report->answered_closed == 2);
      CHECK(h.handled->empty());
    } else {
      CHECK(answers == std::vector<std::string>{"ok"});
      CHECK(report->handled == 2);
      CHECK(*h.handled == std::vector<std::string>{"ping 0", "job 0"});
    }
  }
}

}  // namespace control_lane_tests
