// The Redis Streams consumer against the in-memory fake, on a manual clock:
// settlement from the typed outcome (ack, retry with backoff, dead letter),
// decode failures, leases and claims, a restart under the same name, lost
// connections and replies, refused commands, back-pressure, the producer.

#include "jobs.hpp"

#include "support/catch.hpp"

#include <workers/testing.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using jobs::job;
using jobs::job_error;
using workers::testing::manual_clock;
using workers::testing::run_for;
using workers::testing::run_until_idle;
namespace redis = workers::redis;

struct seen_delivery {
  std::string id;
  std::uint64_t count;
  std::int64_t n;
  std::string trace;
};

// What the handlers saw, in order.
struct journal {
  std::vector<seen_delivery> seen;
  std::vector<std::string> events;
  // A "slow" job waits on this until the test cancels it.
  std::shared_ptr<boost::asio::steady_timer> gate;
};

struct handlers {
  std::shared_ptr<journal> log;
  boost::asio::awaitable<workers::result<std::int64_t, job_error>> on_request(jobs::worker&,
                                                                              const job& j) {
    log->seen.push_back({j.delivery.id, j.delivery.count, j.n, j.delivery.trace});
    if (j.kind == "slow" && log->gate) {
      boost::system::error_code ec;
      co_await log->gate->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    if (j.kind == "retry")
      co_return workers::result<std::int64_t, job_error>(boost::system::in_place_error,
                                                         job_error{"busy", true});
    if (j.kind == "fail")
      co_return workers::result<std::int64_t, job_error>(boost::system::in_place_error,
                                                         job_error{"bad job", false});
    if (j.kind == "throw") throw std::runtime_error("boom");
    co_return j.n * 2;
  }
};

const char* kind_name(redis::consumer_event::kind k) {
  using K = redis::consumer_event::kind;
  switch (k) {
    case K::delivered:
      return "delivered";
    case K::acked:
      return "acked";
    case K::retry_scheduled:
      return "retry";
    case K::dead_lettered:
      return "dead";
    case K::decode_failed:
      return "decode_failed";
    case K::claimed:
      return "claimed";
    case K::released:
      return "released";
    case K::connection_lost:
      return "lost";
    case K::connected:
      return "connected";
    case K::refused:
      return "refused";
    case K::stopped:
      return "stopped";
  }
  return "?";
}

// A manual clock, a fake broker, a table on the clock, and helpers.
struct fake_fixture {
  boost::asio::io_context io;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<redis::memory_broker> broker = redis::memory_broker::create(clock);
  jobs::group::table<workers::queue<workers::infinite>> table =
      jobs::group::create_table(workers::infinite_queue{}, {.clock = clock});
  std::shared_ptr<journal> log = std::make_shared<journal>();

  redis::consumer_options options() {
    redis::consumer_options o;
    o.stream = "jobs";
    o.group = "workers";  // the clock: the table's (the manual one), by default
    o.retry.jitter = 0;
    o.poll = 10ms;
    o.on_event = [log = log](const redis::consumer_event& e) {
      log->events.push_back(std::string(kind_name(e.what)) + (e.id.empty() ? "" : " " + e.id) +
                            (e.text.empty() ? "" : ": " + e.text));
    };
    return o;
  }

  jobs::worker launch(const std::string& name, workers::launch_options lo = {}) {
    std::optional<jobs::worker> w;
    workers::launch(table, io, name, workers::unit{}, handlers{log}, lo,
                    [&](auto r) { w.emplace(std::move(r).value()); });
    run_until_idle(io);
    REQUIRE(w);
    return *w;
  }

  // XADD through the fake, as a producer would.
  std::string add(std::int64_t n, const std::string& kind = "ok") {
    auto f = jobs::codec{}.encode(job{n, kind, {}});
    std::vector<std::string> args{"XADD", "jobs", "*"};
    for (auto& [k, v] : f) {
      args.push_back(k);
      args.push_back(v);
    }
    return command(std::move(args)).str;
  }
  redis::reply command(std::vector<std::string> args) {
    std::optional<redis::reply> out;
    redis::command c;
    for (auto& a : args) c.push(a);
    broker->connect(io.get_executor(), [&](std::shared_ptr<redis::connection> conn, std::string) {
      conn->send(c, [&, conn](std::optional<redis::reply> r) { out = std::move(r); });
    });
    run_until_idle(io);
    REQUIRE(out);
    return *out;
  }
  void run(std::chrono::steady_clock::duration d) { run_for(io, *clock, d); }
  std::size_t count_events(const std::string& prefix) const {
    std::size_t n = 0;
    for (auto& e : log->events) n += e.rfind(prefix, 0) == 0;
    return n;
  }
};

}  // namespace

TEST_CASE("redis fake: a handled delivery is acked once - after the handler", "[redis]") {
  fake_fixture f;
  auto w = f.launch("a");
  auto c = redis::consume(w, f.broker, f.options());
  auto id1 = f.add(1);
  auto id2 = f.add(2);
  f.run(50ms);
  REQUIRE(f.log->seen.size() == 2);
  CHECK(f.log->seen[0].id == id1);
  CHECK(f.log->seen[0].count == 1);
  CHECK(f.log->seen[1].id == id2);
  CHECK(f.broker->pending("jobs", "workers").empty());
  auto s = c.stats();
  CHECK(s.delivered == 2);
  CHECK(s.acked == 2);
  CHECK(s.in_flight == 0);
  CHECK(s.dead_lettered == 0);
  CHECK(f.broker->count("XACK") <= 2);
  workers::trigger_shutdown(w);
  f.run(10ms);
  CHECK(c.stopped());
}

TEST_CASE(
    "redis fake: a retryable error is retried after the backoff - then dead-lettered after "
    "max_deliveries",
    "[redis]") {
  fake_fixture f;
  auto w = f.launch("a");
  auto c = redis::consume(w, f.broker, f.options());
  auto id = f.add(7, "retry");
  auto start = f.clock->steady_now();
  f.run(5ms);
  REQUIRE(f.log->seen.size() == 1);
  // The backoff: 1 s, 2 s, 4 s, 8 s after deliveries 1 to 4, on the manual clock.
  auto due = start;
  for (std::uint64_t n = 1; n < 5; ++n) {
    due += std::chrono::seconds(1 << (n - 1));
    f.run(due - f.clock->steady_now() - 1ms);
    CHECK(f.log->seen.size() == n);
    f.run(2ms);
    REQUIRE(f.log->seen.size() == n + 1);
    CHECK(f.log->seen.back().id == id);
    CHECK(f.log->seen.back().count == n + 1);
  }
  f.run(1min);
  CHECK(f.log->seen.size() == 5);
  CHECK(f.broker->pending("jobs", "workers").empty());
  auto dead = f.broker->entries("jobs:dead");
  REQUIRE(dead.size() == 1);
  std::map<std::string, std::string> fields(dead[0].fields.begin(), dead[0].fields.end());
  CHECK(fields["source-id"] == id);
  CHECK(fields["deliveries"] == "5");
  CHECK(fields["reason"] == "request error: busy (delivery 5 of 5)");
  CHECK(fields["type"] == "job");
  auto s = c.stats();
  CHECK(s.retried == 4);
  CHECK(s.dead_lettered == 1);
  CHECK(s.acked == 0);
  CHECK(f.broker->count("EXEC") == 1);
}

TEST_CASE("redis fake: a permanent error is dead-lettered at once with its reason", "[redis]") {
  fake_fixture f;
  auto w = f.launch("a");
  auto c = redis::consume(w, f.broker, f.options());
  f.add(3, "fail");
  f.add(4);
  f.run(20ms);
  CHECK(f.log->seen.size() == 2);
  auto dead = f.broker->entries("jobs:dead");
  REQUIRE(dead.size() == 1);
  std::map<std::string, std::string> fields(dead[0].fields.begin(), dead[0].fields.end());
  CHECK(fields["reason"] == "request error: bad job");
  CHECK(fields["deliveries"] == "1");
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(c.stats().acked == 1);
  CHECK(c.stats().dead_lettered == 1);
}

TEST_CASE("redis fake: entries that do not decode are dead-lettered - never handled", "[redis]") {
  fake_fixture f;
  auto w = f.launch("a");
  auto c = redis::consume(w, f.broker, f.options());
  f.command({"XADD", "jobs", "*", "type", "job", "body", "{not json"});
  f.command({"XADD", "jobs", "*", "type", "nothing", "body", "{}"});
  f.command({"XADD", "jobs", "*", "body", "{}"});
  f.command({"XADD", "jobs", "*", "type", "job", "body", "{\"n\":\"x\",\"kind\":\"ok\"}"});
  f.add(5);
  f.run(20ms);
  REQUIRE(f.log->seen.size() == 1);
  CHECK(f.log->seen[0].n == 5);
  auto dead = f.broker->entries("jobs:dead");
  REQUIRE(dead.size() == 4);
  std::vector<std::string> reasons;
  for (auto& d : dead)
    for (auto& [k, v] : d.fields)
      if (k == "reason") reasons.push_back(v);
  CHECK(reasons[0].rfind("cannot decode: cannot decode `body` as job", 0) == 0);
  CHECK(reasons[1] == "cannot decode: `type` nothing names no request of the group");
  CHECK(reasons[2] == "cannot decode: no `type` field");
  CHECK(reasons[3].rfind("cannot decode: cannot decode `body` as job", 0) == 0);
  CHECK(c.stats().decode_failed == 4);
  CHECK(f.count_events("decode_failed") == 4);
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(workers::status(w).index() == 1);  // running: bad input never crashes the worker
}

namespace {
// Opens the gate: "slow" jobs waiting finish, later ones pass at once.
void open_gate(journal& log) { log.gate->expires_at(boost::asio::steady_timer::time_point::min()); }
void close_gate(fake_fixture& f) {
  f.log->gate = std::make_shared<boost::asio::steady_timer>(f.io);
  f.log->gate->expires_at(boost::asio::steady_timer::time_point::max());
}
std::map<std::string, std::string> as_map(const redis::fields& f) { return {f.begin(), f.end()}; }
}  // namespace

TEST_CASE(
    "redis fake: a consumer that stops leaves its deliveries pending - another claims them after "
    "the lease",
    "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  auto id = f.add(1, "slow");
  auto id2 = f.add(2);
  f.run(20ms);  // the second read (after the first, empty, waited `poll`)
  REQUIRE(f.log->seen.size() == 1);
  // The handler in flight is cut, the queued one never starts: both stay pending.
  workers::trigger_shutdown(a, workers::shutdown_mode::abort);
  f.run(5ms);
  CHECK(ca.stopped());
  CHECK(ca.stats().released == 2);
  auto pending = f.broker->pending("jobs", "workers");
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].consumer == a.full_name());
  open_gate(*f.log);
  auto b = f.launch("b");
  auto cb = redis::consume(b, f.broker, f.options());
  // Idle 30 s (the lease): b's claim, every 10 s, takes them.
  f.run(29s);
  CHECK(f.log->seen.size() == 1);
  f.run(11s);
  REQUIRE(f.log->seen.size() == 3);
  CHECK(f.log->seen[1].id == id);
  CHECK(f.log->seen[1].count == 2);
  CHECK(f.log->seen[2].id == id2);
  CHECK(f.log->seen[2].count == 2);
  CHECK(cb.stats().claimed == 2);
  CHECK(f.count_events("claimed " + id + ": " + a.full_name()) == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
}

TEST_CASE("redis fake: a live handler keeps its delivery by extending the lease", "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.add(1, "slow");
  f.run(5ms);
  auto b = f.launch("b");
  auto cb = redis::consume(b, f.broker, f.options());
  f.run(100s);
  CHECK(f.log->seen.size() == 1);
  CHECK(cb.stats().claimed == 0);
  auto pending = f.broker->pending("jobs", "workers");
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].consumer == a.full_name());
  CHECK(pending[0].deliveries == 1);  // JUSTID touches do not count
  open_gate(*f.log);
  f.run(5ms);
  CHECK(ca.stats().acked == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
}

TEST_CASE(
    "redis fake: a consumer started again under its name handles its own pending entries first",
    "[redis]") {
  fake_fixture f;
  close_gate(f);
  std::vector<std::string> ids;
  {
    auto a = f.launch("a");
    auto ca = redis::consume(a, f.broker, f.options());
    for (int i = 0; i < 3; ++i) ids.push_back(f.add(i, i == 0 ? "slow" : "ok"));
    f.run(20ms);
    workers::trigger_shutdown(a, workers::shutdown_mode::abort);
    f.run(5ms);
  }
  open_gate(*f.log);
  ids.push_back(f.add(3));
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.run(5ms);
  REQUIRE(f.log->seen.size() == 5);
  for (int i = 0; i < 3; ++i) {
    CHECK(f.log->seen[i + 1].id == ids[i]);
    CHECK(f.log->seen[i + 1].count == 2);
  }
  CHECK(f.log->seen[4].id == ids[3]);
  CHECK(f.log->seen[4].count == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(ca.stats().acked == 4);
}

TEST_CASE(
    "redis fake: an XACK whose reply is lost is confirmed from the pending list - not sent twice",
    "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.broker->lose_replies(1, "XACK");
  f.add(1);
  f.run(1s);
  CHECK(f.log->seen.size() == 1);
  CHECK(f.broker->count("XACK") == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
  auto s = ca.stats();
  CHECK(s.lost == 1);
  CHECK(s.connections == 2);
  CHECK(s.acked == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE("redis fake: a dead letter whose EXEC reply is lost is written once", "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.broker->lose_replies(1, "EXEC");
  f.add(1, "fail");
  f.run(1s);
  CHECK(f.broker->entries("jobs:dead").size() == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(ca.stats().dead_lettered == 1);
  CHECK(ca.stats().in_flight == 0);
}

TEST_CASE(
    "redis fake: entries read on a connection whose reply was lost are delivered after the "
    "reconnect",
    "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.run(5ms);
  f.broker->lose_replies(1, "XREADGROUP");
  auto id = f.add(1);
  f.run(1s);
  REQUIRE(f.log->seen.size() == 1);
  CHECK(f.log->seen[0].id == id);
  CHECK(f.log->seen[0].count == 2);  // the lost read counted as a delivery
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(ca.stats().acked == 1);
}

TEST_CASE("redis fake: an ack made while the connection is down is sent after the reconnect",
          "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.add(1, "slow");
  f.run(5ms);
  f.broker->refuse_connections(true);
  f.broker->drop_connections();
  open_gate(*f.log);
  f.run(1s);
  CHECK(f.log->seen.size() == 1);
  CHECK(f.broker->pending("jobs", "workers").size() == 1);
  CHECK(ca.stats().in_flight == 1);
  CHECK(!ca.last_error().empty());
  auto connects = f.broker->connects();
  f.run(10s);  // the backoff doubles to 5 s: a few attempts, not a loop
  CHECK(f.broker->connects() - connects <= 4);
  f.broker->refuse_connections(false);
  f.run(6s);
  CHECK(f.log->seen.size() == 1);
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(ca.stats().acked == 1);
  CHECK(f.broker->count("XACK") == 1);
}

TEST_CASE("redis fake: refused commands name the stream - the group and the command - and back off",
          "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.run(5ms);
  f.broker->refuse("XREADGROUP", "OOM command not allowed when used memory > 'maxmemory'.", 4);
  f.run(5ms);
  auto reads = f.broker->count("XREADGROUP");
  f.run(1s);
  CHECK(f.broker->count("XREADGROUP") - reads <= 1);
  CHECK(ca.last_error().find("redis refused XREADGROUP on stream 'jobs', group 'workers'") == 0);
  CHECK(ca.last_error().find("OOM") != std::string::npos);
  CHECK(ca.stats().refused >= 2);
  f.run(5s);
  f.add(1);
  f.run(1s);
  CHECK(f.log->seen.size() == 1);
  CHECK(ca.stats().acked == 1);
}

TEST_CASE("redis fake: a deleted group (NOGROUP) is reported and created again", "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.run(5ms);
  f.command({"XGROUP", "DESTROY", "jobs", "workers"});
  f.run(50ms);
  CHECK(ca.last_error().find("NOGROUP") != std::string::npos);
  CHECK(ca.last_error().find("stream 'jobs', group 'workers'") != std::string::npos);
  f.run(1s);
  f.add(1);
  f.run(1s);
  CHECK(f.log->seen.size() == 1);
  CHECK(ca.stats().acked == 1);
  CHECK(workers::status(a).index() == 1);
}

TEST_CASE(
    "redis fake: at most max_in_flight deliveries are unsettled - reads ask only for the room",
    "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto o = f.options();
  o.max_in_flight = 3;
  o.batch = 10;
  auto ca = redis::consume(a, f.broker, o);
  for (int i = 0; i < 10; ++i) f.add(i, "slow");
  f.run(11s);  // a third of the lease: the group's lag and pending count are read
  CHECK(f.log->seen.size() == 1);
  CHECK(ca.stats().in_flight == 3);
  CHECK(f.broker->pending("jobs", "workers").size() == 3);
  CHECK(ca.stats().lag == 7);
  CHECK(ca.stats().pending == 3);
  open_gate(*f.log);
  f.run(1s);
  CHECK(f.log->seen.size() == 10);
  CHECK(ca.stats().acked == 10);
  CHECK(f.broker->pending("jobs", "workers").empty());
}

TEST_CASE("redis fake: a drain handles and acks what was queued - the consumer then stops",
          "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  f.add(0, "slow");
  for (int i = 1; i < 4; ++i) f.add(i);
  f.run(20ms);
  workers::trigger_shutdown(a, workers::shutdown_mode::drain);
  f.add(9);  // after the close began: stays in the stream for others
  open_gate(*f.log);
  f.run(1s);
  CHECK(f.log->seen.size() == 4);
  CHECK(ca.stats().acked == 4);
  CHECK(ca.stopped());
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(f.broker->entries("jobs").size() == 5);
}

TEST_CASE(
    "redis fake: a handler that throws restarts a supervised worker - the delivery is retried - "
    "then dead-lettered",
    "[redis]") {
  fake_fixture f;
  workers::launch_options lo;
  lo.restart = workers::restart_options{.policy = workers::restart_policy::transient,
                                        .intensity = 10,
                                        .period = std::chrono::minutes(1)};
  auto a = f.launch("a", lo);
  auto ca = redis::consume(a, f.broker, f.options());
  auto id = f.add(1, "throw");
  f.add(2);
  f.run(1min);
  REQUIRE(f.log->seen.size() == 6);
  CHECK(workers::restarts(a) == 5);
  CHECK(ca.stats().acked == 1);
  CHECK(ca.stats().dead_lettered == 1);
  auto dead = f.broker->entries("jobs:dead");
  REQUIRE(dead.size() == 1);
  CHECK(as_map(dead[0].fields)["reason"] == "handler threw: boom (delivery 5 of 5)");
  CHECK(as_map(dead[0].fields)["source-id"] == id);
}

TEST_CASE("redis fake: a remote table's push adds an entry with its trace - the handler sees it",
          "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto ca = redis::consume(a, f.broker, f.options());
  redis::remote_table<jobs::group::definition> remote(f.io.get_executor(), f.broker,
                                                      {.stream = "jobs"});
  std::string id;
  boost::system::error_code ec;
  remote.push_request(
      job{5, "ok", {}},
      [&](boost::system::error_code e, std::string i) {
        ec = e;
        id = i;
      },
      "trace-42");
  f.run(50ms);
  CHECK(!ec);
  REQUIRE(f.log->seen.size() == 1);
  CHECK(f.log->seen[0].id == id);
  CHECK(f.log->seen[0].trace == "trace-42");
  CHECK(f.log->seen[0].n == 5);
}

TEST_CASE("redis fake: a remote table refuses pushes past the group's lag watermark", "[redis]") {
  fake_fixture f;
  f.command({"XGROUP", "CREATE", "jobs", "workers", "0", "MKSTREAM"});
  redis::remote_table<jobs::group::definition> remote(
      f.io.get_executor(), f.broker,
      {.stream = "jobs", .max_length = 1000, .high_watermark = 2, .group = "workers"});
  std::vector<boost::system::error_code> codes;
  for (int i = 0; i < 4; ++i) {
    remote.push_request(job{i, "ok", {}},
                        [&](boost::system::error_code e, std::string) { codes.push_back(e); });
    f.run(1ms);
  }
  REQUIRE(codes.size() == 4);
  CHECK(!codes[0]);
  CHECK(!codes[1]);
  CHECK(!codes[2]);
  CHECK(codes[3] == redis::errc::over_watermark);
  CHECK(f.broker->entries("jobs").size() == 3);
}

TEST_CASE(
    "redis fake: a handler held past max_hold is no longer touched - another consumer claims it",
    "[redis]") {
  fake_fixture f;
  close_gate(f);
  auto a = f.launch("a");
  auto o = f.options();
  o.max_hold = 5s;  // the watchdog's stuck budget, when the worker has one
  auto ca = redis::consume(a, f.broker, o);
  auto id = f.add(1, "slow");
  f.run(5ms);
  auto b = f.launch("b");
  auto cb = redis::consume(b, f.broker, f.options());
  // Touched at 10 s? No: in hand past 5 s. Idle from 0: claimed at the 30 s tick.
  f.run(29s);
  CHECK(f.log->seen.size() == 1);
  f.run(2s);
  REQUIRE(f.log->seen.size() == 2);
  CHECK(f.log->seen[1].id == id);
  CHECK(f.log->seen[1].count == 2);
  CHECK(cb.stats().claimed == 1);
  open_gate(*f.log);
  f.run(1s);
  // Both handled it (at-least-once); one XACK removed it, the other found it settled.
  CHECK(f.broker->pending("jobs", "workers").empty());
  CHECK(ca.stats().ack_duplicates + cb.stats().ack_duplicates == 1);
}

namespace {
// A codec that throws on bodies it dislikes.
struct throwing_codec {
  jobs::codec inner;
  template <class R>
  redis::fields encode(const R& r) const {
    return inner.encode(r);
  }
  std::optional<jobs::group::any_request> decode(const redis::fields& f, std::string& why) const {
    for (auto& [k, v] : f)
      if (k == "body" && v.find("\"n\":13") != std::string::npos)
        throw std::runtime_error("unlucky number");
    return inner.decode(f, why);
  }
};
}  // namespace

TEST_CASE(
    "redis fake: a codec that throws dead-letters the entry with its message - an event callback "
    "that throws changes nothing",
    "[redis]") {
  fake_fixture f;
  auto a = f.launch("a");
  auto o = f.options();
  o.on_event = [](const redis::consumer_event&) { throw std::runtime_error("sink down"); };
  auto ca = redis::consume(a, f.broker, o, throwing_codec{});
  f.add(13);
  f.add(14);
  f.run(50ms);
  REQUIRE(f.log->seen.size() == 1);
  CHECK(f.log->seen[0].n == 14);
  auto dead = f.broker->entries("jobs:dead");
  REQUIRE(dead.size() == 1);
  CHECK(as_map(dead[0].fields)["reason"] == "cannot decode: the codec threw: unlucky number");
  CHECK(ca.stats().acked == 1);
  CHECK(ca.stats().decode_failed == 1);
  CHECK(workers::status(a).index() == 1);
}

TEST_CASE(
    "redis fake: the context destroyed while a consumer holds deliveries and waits on timers leaks "
    "nothing",
    "[redis]") {
  std::optional<redis::consumer> kept;
  {
    fake_fixture f;
    close_gate(f);
    auto a = f.launch("a");
    kept = redis::consume(a, f.broker, f.options());
    f.add(1, "slow");
    f.add(2, "retry");
    f.run(20ms);
    CHECK(kept->stats().in_flight == 2);
  }  // the io_context goes first (fixture members in reverse order), then the broker
  CHECK(!kept->stopped());  // never finished: its context is gone; the handle still reads
  CHECK(kept->stats().delivered == 2);
}

TEST_CASE(
    "redis fake: a remote push made with deferred runs only when launched - one never launched "
    "sends nothing",
    "[redis]") {
  fake_fixture f;
  redis::remote_table<jobs::group::definition> remote(f.io.get_executor(), f.broker,
                                                      {.stream = "jobs"});
  auto never = remote.push_request(job{1, "ok", {}}, boost::asio::deferred);
  auto later = remote.push_request(job{2, "ok", {}}, boost::asio::deferred);
  f.run(10ms);
  CHECK(f.broker->count("XADD") == 0);
  std::string id;
  std::move(later)([&](boost::system::error_code ec, std::string i) {
    CHECK(!ec);
    id = i;
  });
  f.run(10ms);
  CHECK(!id.empty());
  CHECK(f.broker->count("XADD") == 1);
  (void)never;
}
