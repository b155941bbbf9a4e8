// The Redis Streams consumer and producer against a real redis-server (one
// per test, see server.hpp): the hiredis connection on the worker's strand,
// settlement and dead letters as Redis applies them, a broker killed and
// restarted with its append-only file, a deleted stream. Skipped, with a
// message, where redis-server is not installed.

#include "jobs.hpp"
#include "server.hpp"
#include "support/catch.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace real_redis_tests {

using namespace std::chrono_literals;
using jobs::job;
using jobs::job_error;
namespace redis = workers::redis;

// Skips the test (ctest's SKIP_REGULAR_EXPRESSION) where there is no redis-server.
#define REQUIRE_REDIS_SERVER()                                        \
  if (test_redis::server_binary().empty()) {                          \
    WARN("redis-server not found: the real Redis tests are skipped"); \
    return;                                                           \
  }

struct handled {
  std::map<std::string, int> times;  // id → deliveries handled
  std::vector<std::uint64_t> counts;
};

struct handlers {
  std::shared_ptr<handled> log;
  workers::result<std::int64_t, job_error> on_request(jobs::worker&, const job& j) {
    ++log->times[j.delivery.id];
    log->counts.push_back(j.delivery.count);
    if (j.kind == "retry") return {boost::system::in_place_error, job_error{"busy", true}};
    return j.n;
  }
};

// Runs `io` until `done()` or 60 s of wall time (a failure then).
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
    io.restart();
  }
  return true;
}

struct fixture {
  explicit fixture(bool append_only = false) : server(append_only) {}
  test_redis::server server;
  std::shared_ptr<redis::connector> broker = redis::hiredis_connector::unix_socket(server.socket());
  boost::asio::io_context io;
  jobs::group::table<workers::queue<workers::infinite>> table =
      jobs::group::create_table(workers::infinite_queue{});
  std::shared_ptr<handled> log = std::make_shared<handled>();

  jobs::worker launch(const std::string& name) {
    std::optional<jobs::worker> w;
    workers::launch(table, io, name, workers::unit{}, handlers{log}, {},
                    [&](auto r) { w.emplace(std::move(r).value()); });
    run_until(io, [&] { return w.has_value(); });
    REQUIRE(w);
    return *w;
  }
  static redis::consumer_options options() {
    redis::consumer_options o;
    o.stream = "jobs";
    o.group = "workers";
    o.poll = 5ms;
    o.retry.first = 1ms;
    o.retry.jitter = 0;
    o.reconnect.min = 10ms;
    o.reconnect.max = 200ms;
    return o;
  }
  // Pushes `n` jobs through a remote table; all must complete.
  void push(int n, const std::string& kind = "ok") {
    redis::remote_table<jobs::group::definition> remote(io.get_executor(), broker,
                                                        {.stream = "jobs"});
    int done = 0;
    int failed = 0;
    for (int i = 0; i < n; ++i)
      remote.push_request(job{i, kind, {}}, [&](boost::system::error_code ec, std::string) {
        ++done;
        failed += ec ? 1 : 0;
      });
    REQUIRE(run_until(io, [&] { return done == n; }));
    REQUIRE(failed == 0);
  }
};

std::int64_t pending_count(test_redis::server& s) {
  auto* r = s.run("XPENDING jobs workers");
  std::int64_t n = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) n = r->element[0]->integer;
  if (r) freeReplyObject(r);
  return n;
}

TEST_CASE("redis real: two consumers share the stream - each entry handled and acked once",
          "[redis][real]") {
  REQUIRE_REDIS_SERVER();
  fixture f;
  auto& server = f.server;
  auto& broker = f.broker;
  auto a = f.launch("a");
  auto b = f.launch("b");
  auto ca = redis::consume(a, broker, f.options());
  auto cb = redis::consume(b, broker, f.options());
  f.push(2000);
  REQUIRE(run_until(f.io, [&] { return ca.stats().acked + cb.stats().acked == 2000; }));
  CHECK(f.log->times.size() == 2000);
  for (auto& [id, n] : f.log->times) CHECK(n == 1);
  CHECK(ca.stats().acked > 0);
  CHECK(cb.stats().acked > 0);
  CHECK(pending_count(server) == 0);
  CHECK(server.integer("XLEN jobs") == 2000);
  workers::trigger_shutdown(a);
  workers::trigger_shutdown(b);
  REQUIRE(run_until(f.io, [&] { return ca.stopped() && cb.stopped(); }));
}

TEST_CASE("redis real: poison and malformed entries end in the dead-letter stream",
          "[redis][real]") {
  REQUIRE_REDIS_SERVER();
  fixture f;
  auto& server = f.server;
  auto& broker = f.broker;
  auto a = f.launch("a");
  auto ca = redis::consume(a, broker, f.options());
  f.push(1, "retry");
  server.integer("XADD jobs * type job body {oops");
  server.integer("XADD jobs * type unknown body {}");
  f.push(10);
  REQUIRE(run_until(f.io, [&] { return ca.stats().dead_lettered == 3 && ca.stats().acked == 10; }));
  CHECK(server.integer("XLEN jobs:dead") == 3);
  CHECK(ca.stats().decode_failed == 2);
  CHECK(pending_count(server) == 0);
  // The poison entry was handled 5 times, with counts 1 to 5.
  int poison = 0;
  for (auto& [id, n] : f.log->times) poison = std::max(poison, n);
  CHECK(poison == 5);
}

TEST_CASE(
    "redis real: Redis killed and restarted with its append-only file loses no added entry - "
    "consumers reconnect",
    "[redis][real]") {
  REQUIRE_REDIS_SERVER();
  fixture f(/*append_only=*/true);
  auto& server = f.server;
  auto& broker = f.broker;
  f.push(3000);
  auto a = f.launch("a");
  auto ca = redis::consume(a, broker, f.options());
  REQUIRE(run_until(f.io, [&] { return ca.stats().acked >= 300; }));
  server.stop(SIGKILL);
  f.io.run_for(50ms);  // the consumer sees the connection go
  f.io.restart();
  server.start();
  CHECK(server.integer("XLEN jobs") == 3000);
  // Redis has every ack once the pending list is empty; the consumer has them
  // once their replies came (nothing in flight).
  REQUIRE(run_until(f.io, [&] {
    return f.log->times.size() == 3000 && pending_count(server) == 0 && ca.stats().in_flight == 0;
  }));
  CHECK(ca.stats().lost >= 1);
  CHECK(ca.stats().connections >= 2);
}

TEST_CASE(
    "redis real: a deleted stream's NOGROUP names the stream - the group and the command - the "
    "group is created again",
    "[redis][real]") {
  REQUIRE_REDIS_SERVER();
  fixture f;
  auto& server = f.server;
  auto& broker = f.broker;
  auto a = f.launch("a");
  auto ca = redis::consume(a, broker, f.options());
  f.push(5);
  REQUIRE(run_until(f.io, [&] { return ca.stats().acked == 5; }));
  server.integer("DEL jobs");
  REQUIRE(run_until(f.io, [&] { return ca.stats().refused >= 1; }));
  CHECK(ca.last_error().find("NOGROUP") != std::string::npos);
  CHECK(ca.last_error().find("stream 'jobs', group 'workers'") != std::string::npos);
  f.push(5);
  REQUIRE(run_until(f.io, [&] { return ca.stats().acked == 10; }));
  CHECK(workers::status(a).index() == 1);
}

}  // namespace real_redis_tests

namespace real_redis_tests {

struct locked_handlers {
  std::shared_ptr<std::mutex> mutex;
  std::shared_ptr<std::map<std::string, int>> times;
  workers::result<std::int64_t, job_error> on_request(jobs::worker&, const job& j) {
    std::lock_guard lock(*mutex);
    ++(*times)[j.delivery.id];
    return j.n;
  }
};

TEST_CASE("redis real: two consumers on a 4-thread pool - counters read from another thread",
          "[redis][real]") {
  REQUIRE_REDIS_SERVER();
  test_redis::server server;
  auto broker = redis::hiredis_connector::unix_socket(server.socket());
  boost::asio::thread_pool pool(4);
  auto table = jobs::group::create_table(workers::infinite_queue{});
  auto mutex = std::make_shared<std::mutex>();
  auto times = std::make_shared<std::map<std::string, int>>();
  std::vector<redis::consumer> consumers;
  std::vector<jobs::worker> ws;
  for (const char* name : {"a", "b"}) {
    std::promise<jobs::worker> launched;
    workers::launch(table, pool, name, workers::unit{}, locked_handlers{mutex, times}, {},
                    [&](auto r) { launched.set_value(std::move(r).value()); });
    ws.push_back(launched.get_future().get());
    consumers.push_back(redis::consume(ws.back(), broker, fixture::options()));
  }
  {
    boost::asio::io_context io;
    redis::remote_table<jobs::group::definition> remote(io.get_executor(), broker,
                                                        {.stream = "jobs"});
    int done = 0;
    for (int i = 0; i < 3000; ++i)
      remote.push_request(job{i, "ok", {}}, [&](boost::system::error_code ec, std::string) {
        CHECK(!ec);
        if (++done == 3000) remote.close();
      });
    io.run();
  }
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (consumers[0].stats().acked + consumers[1].stats().acked < 3000 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  CHECK(consumers[0].stats().acked + consumers[1].stats().acked == 3000);
  for (auto& w : ws) workers::trigger_shutdown(w);
  while ((!consumers[0].stopped() || !consumers[1].stopped()) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  CHECK(consumers[0].stopped());
  CHECK(consumers[1].stopped());
  pool.join();
  std::lock_guard lock(*mutex);
  CHECK(times->size() == 3000);
  for (auto& [id, n] : *times) CHECK(n == 1);
  CHECK(pending_count(server) == 0);
}

}  // namespace real_redis_tests
