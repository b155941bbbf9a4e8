// <workers/prometheus.hpp>: the collector's families, as prometheus-cpp's text
// serializer writes them, for workers of several tables (groups and kinds).

#include "support/calc.hpp"
#include "support/catch.hpp"
#include "support/run.hpp"

#include <workers/prometheus.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

// Named, so that the unity build keeps each file's helpers apart.
namespace prometheus_tests {

using namespace test;

// A second group, to check that tables of different groups share a collector.
struct echo_name {
  static constexpr std::string_view base[] = {"test", "echo"};
  using type = std::string;
};
struct ping {
  using result_type = int;
  using error_type = std::string;
};
struct echo_requests {
  using types = workers::request_types<ping>;
  using view_type = std::string;
  static std::string view(const ping&) { return "ping"; }
};
struct echo_types {
  using state_type = int;
  using parameters_type = int;
  using view_type = int;
  static int view(const int& s, const int&) { return s; }
};
using echo = workers::make_single<echo_name, echo_requests, echo_types>;
using echo_worker = echo::worker<workers::queue<workers::infinite>>;
struct echo_handlers {
  int on_launch(echo_worker&, const std::string&, const int& p) { return p; }
  workers::result<int, std::string> on_request(echo_worker& self, const ping&) {
    return ++workers::state(self);
  }
};

const workers::table_options with_metrics{.metrics = true};

std::string exposition(const workers::prometheus_collector& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> starting(const std::vector<std::string>& lines, std::string_view prefix) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    if (l.starts_with(prefix)) out.push_back(l);
  return out;
}

// The value of a sample line (`name{labels} value`).
double value_of(const std::string& line) { return std::stod(line.substr(line.rfind(' ') + 1)); }

// Requests handled before this returns are fully accounted: `with_state`
// runs on the worker's strand between two handlers.
template <class W>
asio::awaitable<void> settle(const W& w) {
  (void)co_await workers::with_state(w, [](auto&) {});
}

TEST_CASE("prometheus: counters and gauges of every worker, labelled by group and worker",
          "[prometheus]") {
  asio::io_context io;
  auto infinite = calc::create_table(workers::infinite_queue{}, with_metrics);
  auto bounded = calc::create_table(workers::bounded_queue{8}, with_metrics);
  auto echoes = echo::create_table(workers::infinite_queue{}, with_metrics);
  auto quiet = calc::create_table(workers::infinite_queue{});  // no metrics: not exposed
  auto collector = std::make_shared<workers::prometheus_collector>();
  collector->add(infinite);
  collector->add(bounded);
  collector->add(echoes);
  collector->add(quiet);
  calc_handlers h;
  echo_handlers eh;
  run(io, [&]() -> asio::awaitable<void> {
    auto alice = co_await launch_as<calc_worker>(infinite, "alice", h, {});
    auto bob = co_await launch_as<bounded_worker>(bounded, "bob", h, {});
    auto q = co_await launch_as<calc_worker>(quiet, "q", h, {});
    auto e = (co_await workers::launch(echoes, io.get_executor(), "e", 0, eh)).value();

    for (int i = 1; i <= 3; ++i) REQUIRE(workers::push_request_now(alice, add{i}));
    for (const char* m : {"x", "y"}) REQUIRE(workers::push_request_now(alice, fail{m}));
    (void)co_await workers::push_request_and_wait(alice, add{0});
    co_await settle(alice);
    (void)co_await workers::push_request_and_wait(e, ping{});
    co_await settle(e);
    // bob is busy with one request and has two more waiting.
    busy_gate gate(io.get_executor());
    REQUIRE(workers::try_push_request_now(bob, gate.request()));
    co_await gate.entered();
    REQUIRE(workers::try_push_request_now(bob, add{1}));
    REQUIRE(workers::try_push_request_now(bob, add{2}));

    const auto text = exposition(*collector);
    const auto lines = lines_of(text);
    INFO(text);
    const std::string a = R"({group="test-calc",worker="test-calc_alice"} )";
    const std::string b = R"({group="test-calc",worker="test-calc_bob"} )";
    const std::string p = R"({group="test-echo",worker="test-echo_e"} )";
    for (const auto& line : {
             "workers_requests_handled_total" + a + "6",
             "workers_requests_failed_total" + a + "2",
             "workers_requests_crashed_total" + a + "0",
             "workers_requests_dropped_total" + a + "0",
             "workers_requests_cancelled_total" + a + "0",
             "workers_requests_refused_total" + a + "0",
             "workers_queue_alarms_total" + a + "0",
             "workers_queue_length" + a + "0",
             "workers_requests_in_flight" + a + "0",
             "workers_requests_handled_total" + b + "0",
             "workers_queue_length" + b + "2",
             "workers_requests_in_flight" + b + "1",
             "workers_requests_handled_total" + p + "1",
             "workers_requests_failed_total" + p + "0",
             "workers_queue_length" + p + "0",
             "workers_queue_wait_seconds_count" + a + "6",
             "workers_service_time_seconds_count" + b + "0",
         })
      CHECK(has_line(lines, line));
    CHECK(text.find("test-calc_q") == std::string::npos);

    // Each family once, with its help and type, in a fixed order.
    const std::vector<std::string> types = {
        "# TYPE workers_requests_handled_total counter",
        "# TYPE workers_requests_failed_total counter",
        "# TYPE workers_requests_crashed_total counter",
        "# TYPE workers_requests_dropped_total counter",
        "# TYPE workers_requests_cancelled_total counter",
        "# TYPE workers_requests_refused_total counter",
        "# TYPE workers_queue_alarms_total counter",
        "# TYPE workers_requests_slow_total counter",
        "# TYPE workers_requests_stuck_total counter",
        "# TYPE workers_shutdown_escalations_total counter",
        "# TYPE workers_restarts_total counter",
        "# TYPE workers_queue_length gauge",
        "# TYPE workers_requests_in_flight gauge",
        "# TYPE workers_queue_wait_seconds histogram",
        "# TYPE workers_service_time_seconds histogram",
    };
    CHECK(starting(lines, "# TYPE ") == types);
    CHECK(starting(lines, "# HELP ").size() == types.size());
    // Three workers per family: a table's workers, then the next table's.
    const auto handled = starting(lines, "workers_requests_handled_total{");
    REQUIRE(handled.size() == 3);
    CHECK(handled[0].find("test-calc_alice") != std::string::npos);
    CHECK(handled[1].find("test-calc_bob") != std::string::npos);
    CHECK(handled[2].find("test-echo_e") != std::string::npos);

    gate.open();
    (void)co_await workers::push_request_and_wait(bob, add{0});
    for (auto& [name, w] : workers::list(infinite)) co_await workers::shutdown(w);
    for (auto& [name, w] : workers::list(bounded)) co_await workers::shutdown(w);
    co_await workers::shutdown(e);
    co_await workers::shutdown(q);
  });
}

TEST_CASE("prometheus: histograms are cumulative, end with +Inf and count the requests handled",
          "[prometheus]") {
  asio::io_context io;
  auto table = calc::create_table(workers::infinite_queue{}, with_metrics);
  auto collector = std::make_shared<workers::prometheus_collector>();
  collector->add(table);
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<calc_worker>(table, "h", h, {});
    for (int i = 1; i <= 10; ++i) REQUIRE(workers::push_request_now(w, add{i}));
    for (const char* m : {"x", "y", "z"}) REQUIRE(workers::push_request_now(w, fail{m}));
    (void)co_await workers::push_request_and_wait(w, add{0});
    co_await settle(w);

    const auto lines = lines_of(exposition(*collector));
    const std::string labels = R"({group="test-calc",worker="test-calc_h"})";
    CHECK(has_line(lines, "workers_requests_handled_total" + labels + " 14"));
    for (const std::string family :
         {"workers_queue_wait_seconds", "workers_service_time_seconds"}) {
      INFO(family);
      const auto buckets = starting(lines, family + "_bucket{");
      REQUIRE(buckets.size() == workers::histogram::bounds.size() + 1);
      for (std::size_t i = 0; i < buckets.size(); ++i) {
        const std::string le = i < workers::histogram::bounds.size()
                                   ? (std::ostringstream() << workers::histogram::bounds[i]).str()
                                   : "+Inf";
        const std::string prefix =
            family + R"(_bucket{group="test-calc",worker="test-calc_h",le=")" + le + "\"} ";
        INFO(buckets[i]);
        CHECK(buckets[i].starts_with(prefix));
        if (i > 0) CHECK(value_of(buckets[i]) >= value_of(buckets[i - 1]));
      }
      CHECK(value_of(buckets.back()) == 14);
      CHECK(has_line(lines, family + "_count" + labels + " 14"));
      const auto sum = starting(lines, family + "_sum" + labels + " ");
      REQUIRE(sum.size() == 1);
      CHECK(value_of(sum[0]) >= 0);
    }
    co_await workers::shutdown(w);
  });
  // A closed worker leaves its table, and the exposition: no series, no families.
  CHECK(collector->Collect().empty());
}

TEST_CASE("prometheus: scrapes from another thread while the workers run", "[prometheus]") {
  asio::io_context io;
  auto table = calc::create_table(workers::infinite_queue{}, with_metrics);
  auto collector = std::make_shared<workers::prometheus_collector>();
  CHECK(collector->Collect().empty());  // no table yet
  collector->add(table);
  calc_handlers h;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        // Spinning workers push their next request themselves, on the other thread.
        auto a = co_await launch_as<calc_worker>(table, "a", h, {.spin = spin_mode::adds});
        auto b = co_await launch_as<calc_worker>(table, "b", h, {.spin = spin_mode::fails});
        double last_a = 0, last_b = 0;
        for (int scrape = 0; scrape < 200; ++scrape) {
          const auto samples = collector->samples();
          REQUIRE(samples.size() == 2);
          CHECK(samples[0].worker == "test-calc_a");
          CHECK(samples[1].worker == "test-calc_b");
          const auto& ma = samples[0].metrics;
          const auto& mb = samples[1].metrics;
          CHECK(static_cast<double>(ma.handled) >= last_a);
          CHECK(static_cast<double>(mb.handled) >= last_b);
          CHECK(ma.failed == 0);
          CHECK(mb.failed <= mb.handled);
          last_a = static_cast<double>(ma.handled);
          last_b = static_cast<double>(mb.handled);
          CHECK_FALSE(prometheus::TextSerializer().Serialize(collector->Collect()).empty());
          co_await asio::post(io, asio::use_awaitable);
        }
        co_await workers::shutdown(a);
        co_await workers::shutdown(b);
      },
      2);
}

TEST_CASE("prometheus: the collector's families serialize alongside a registry's", "[prometheus]") {
  asio::io_context io;
  auto table = calc::create_table(workers::infinite_queue{}, with_metrics);
  auto collector = std::make_shared<workers::prometheus_collector>();
  collector->add(table);
  prometheus::Registry registry;
  auto& scrapes =
      prometheus::BuildCounter().Name("node_scrapes_total").Help("Scrapes.").Register(registry);
  scrapes.Add({}).Increment();
  calc_handlers h;
  run(io, [&]() -> asio::awaitable<void> {
    auto w = co_await launch_as<calc_worker>(table, "r", h, {});
    (void)co_await workers::push_request_and_wait(w, add{1});
    co_await settle(w);
    // What an exposer does with several collectables: their families, one after the other.
    auto families = registry.Collect();
    for (auto& f : collector->Collect()) families.push_back(std::move(f));
    const auto lines = lines_of(prometheus::TextSerializer().Serialize(families));
    CHECK(has_line(lines, "node_scrapes_total 1"));
    CHECK(has_line(lines,
                   R"(workers_requests_handled_total{group="test-calc",worker="test-calc_r"} 1)"));
    co_await workers::shutdown(w);
  });
}

}  // namespace prometheus_tests
