// The Redis consumer's model test: random streams of jobs, each with a plan
// of outcomes for its successive handlings (handled, a retryable error, a
// permanent error, a throw that crashes the supervised worker), malformed
// entries among them, and faults of the broker (lost XACK and EXEC replies,
// dropped connections, refused commands), on the fake and a manual clock.
// A reference model predicts, for each entry, the deliveries its handler sees
// (their counts), how it ends (acked, or dead-lettered with its reason and
// delivery count), the consumer's counters and events; without faults, also
// the time of every delivery (the retry backoff from the delivery count).
// Every entry must end settled exactly once: none pending, each dead letter
// written once, no XACK that finds its entry settled already.
//
// WORKERS_REDIS_MODEL_SEEDS: how many seeds (default 300).

#include "jobs.hpp"
#include "support/catch.hpp"

#include <workers/testing.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace redis_model_tests {

using namespace std::chrono_literals;
namespace redis = workers::redis;
using workers::testing::manual_clock;

enum class step { ok, retry, fail, boom };

struct plan {
  std::vector<step> steps;  // by handling: the first, the second, ...
  bool malformed = false;
};

struct seen {
  std::int64_t n;
  std::uint64_t count;
  std::chrono::steady_clock::time_point at;
};

struct world {
  std::map<std::int64_t, plan> plans;
  std::vector<seen> handled;
  std::map<std::int64_t, int> handlings;
  std::shared_ptr<manual_clock> clock;
};

struct model_handlers {
  std::shared_ptr<world> w;
  workers::result<std::int64_t, jobs::job_error> on_request(jobs::worker&, const jobs::job& j) {
    w->handled.push_back({j.n, j.delivery.count, w->clock->steady_now()});
    const auto& steps = w->plans.at(j.n).steps;
    auto i = std::size_t(w->handlings[j.n]++);
    auto s = i < steps.size() ? steps[i] : step::ok;
    if (s == step::retry) return {boost::system::in_place_error, jobs::job_error{"busy", true}};
    if (s == step::fail) return {boost::system::in_place_error, jobs::job_error{"bad", false}};
    if (s == step::boom) throw std::runtime_error("boom");
    return j.n;
  }
};

// What the model predicts for one entry.
struct prediction {
  std::vector<std::uint64_t> counts;  // the handler's deliveries
  bool dead = false;
  std::string reason;
  std::uint64_t deliveries = 0;              // the dead letter's count
  std::vector<std::chrono::seconds> delays;  // backoff before each redelivery
};

prediction predict(const plan& p, std::uint64_t max_deliveries) {
  prediction out;
  if (p.malformed) {
    out.dead = true;
    out.deliveries = 1;
    out.reason = "cannot decode";
    return out;
  }
  for (std::uint64_t count = 1;; ++count) {
    out.counts.push_back(count);
    auto s = count - 1 < p.steps.size() ? p.steps[count - 1] : step::ok;
    if (s == step::ok) return out;
    if (s == step::fail) {
      out.dead = true;
      out.deliveries = count;
      out.reason = "request error: bad";
      return out;
    }
    if (count >= max_deliveries) {
      out.dead = true;
      out.deliveries = count;
      out.reason = (s == step::retry ? "request error: busy" : "handler threw: boom") +
                   std::string(" (delivery ") + std::to_string(count) + " of " +
                   std::to_string(max_deliveries) + ")";
      return out;
    }
    out.delays.push_back(std::chrono::seconds(1 << (count - 1)));
  }
}

void run_seed(unsigned seed) {
  std::mt19937 random(seed);
  auto pick = [&](int n) { return int(random() % unsigned(n)); };
  boost::asio::io_context io;
  auto clock = std::make_shared<manual_clock>();
  auto broker = redis::memory_broker::create(clock);
  auto w = std::make_shared<world>();
  w->clock = clock;
  const bool faults = seed % 2 == 1;

  // The plans.
  const int entries = 5 + pick(30);
  for (std::int64_t n = 0; n < entries; ++n) {
    plan p;
    p.malformed = pick(12) == 0;
    int steps = pick(7);
    for (int i = 0; i < steps; ++i) {
      int r = pick(10);
      p.steps.push_back(r < 5 ? step::retry : r < 7 ? step::ok : r < 8 ? step::fail : step::boom);
    }
    w->plans[n] = p;
  }

  auto table = jobs::group::create_table(workers::infinite_queue{}, {.clock = clock});
  workers::launch_options lo;
  lo.restart = workers::restart_options{
      .policy = workers::restart_policy::transient, .intensity = 1000, .period = 1h};
  std::optional<jobs::worker> worker;
  workers::launch(table, io, "m", workers::unit{}, model_handlers{w}, lo,
                  [&](auto r) { worker.emplace(std::move(r).value()); });
  workers::testing::run_until_idle(io);
  REQUIRE(worker);

  redis::consumer_options o;
  o.stream = "jobs";
  o.group = "g";
  o.poll = 1s;
  o.retry.jitter = 0;
  o.max_in_flight = std::size_t(1 + pick(8));
  o.batch = std::size_t(1 + pick(10));
  std::map<std::string, int> events;
  o.on_event = [&](const redis::consumer_event& e) { ++events[std::to_string(int(e.what))]; };
  auto c = redis::consume(*worker, broker, o);

  // The entries, added through the fake.
  std::map<std::string, std::int64_t> n_of;  // entry ID → job number
  {
    std::shared_ptr<redis::connection> conn;
    broker->connect(io.get_executor(), [&](std::shared_ptr<redis::connection> k, std::string) {
      conn = std::move(k);
    });
    workers::testing::run_until_idle(io);
    for (std::int64_t n = 0; n < entries; ++n) {
      redis::command add{"XADD", "jobs", "*"};
      if (w->plans[n].malformed) {
        add.push("type").push("job").push("body").push("{broken");
      } else {
        for (auto& [k, v] : jobs::codec{}.encode(jobs::job{n, "ok", {}})) add.push(k).push(v);
      }
      conn->send(add, [&, n](std::optional<redis::reply> r) { n_of[r->str] = n; });
    }
    workers::testing::run_until_idle(io);
  }
  const auto start = clock->steady_now();

  // Time goes on; with faults, the broker misbehaves now and then.
  for (int tick = 0; tick < 400; ++tick) {
    if (faults && pick(20) == 0) {
      switch (pick(4)) {
        case 0:
          broker->lose_replies(1, "XACK");
          break;
        case 1:
          broker->lose_replies(1, "EXEC");
          break;
        case 2:
          broker->drop_connections();
          break;
        case 3:
          broker->refuse(pick(2) ? "XREADGROUP" : "XACK", "OOM command not allowed", 1 + pick(3));
          break;
      }
    }
    workers::testing::run_for(io, *clock, 500ms);
  }
  workers::testing::run_for(io, *clock, 5min);

  // The oracle.
  std::map<std::int64_t, std::vector<seen>> by_entry;
  for (auto& s : w->handled) by_entry[s.n].push_back(s);
  std::uint64_t acked = 0, dead = 0, retried = 0, decode_failed = 0;
  std::map<std::int64_t, prediction> predicted;
  for (std::int64_t n = 0; n < entries; ++n) {
    auto p = predict(w->plans[n], o.max_deliveries);
    predicted[n] = p;
    INFO("seed " << seed << " entry " << n);
    const auto& got = by_entry[n];
    REQUIRE(got.size() == p.counts.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].count == p.counts[i]);
    if (!faults && !got.empty()) {
      // Deliveries after the first are exactly one backoff apart.
      for (std::size_t i = 1; i < got.size(); ++i)
        CHECK(got[i].at - got[i - 1].at == p.delays[i - 1]);
      // The first delivery: the first read (at once) or, behind a full window, a later poll.
      CHECK(got[0].at >= start);
    }
    if (p.dead)
      ++dead;
    else
      ++acked;
    retried += p.delays.size();
    decode_failed += w->plans[n].malformed ? 1 : 0;
  }
  INFO("seed " << seed);
  CHECK(broker->pending("jobs", "g").empty());
  auto letters = broker->entries("jobs:dead");
  CHECK(letters.size() == dead);
  std::map<std::int64_t, int> letters_of;
  for (auto& l : letters) {
    std::map<std::string, std::string> f(l.fields.begin(), l.fields.end());
    auto n = n_of.at(f["source-id"]);
    ++letters_of[n];
    auto& p = predicted[n];
    CHECK(p.dead);
    CHECK(f["deliveries"] == std::to_string(p.deliveries));
    CHECK(f["reason"].rfind(p.reason, 0) == 0);
  }
  for (auto& [n, k] : letters_of) CHECK(k == 1);
  auto s = c.stats();
  CHECK(s.acked == acked);
  CHECK(s.dead_lettered == dead);
  CHECK(s.retried == retried);
  CHECK(s.decode_failed == decode_failed);
  CHECK(s.ack_duplicates == 0);
  CHECK(s.in_flight == 0);
  CHECK(s.delivered == w->handled.size());
  CHECK(events[std::to_string(int(redis::consumer_event::kind::acked))] == int(acked));
  CHECK(events[std::to_string(int(redis::consumer_event::kind::dead_lettered))] == int(dead));
  if (!faults) CHECK(s.lost == 0);
  workers::trigger_shutdown(*worker);
  workers::testing::run_for(io, *clock, 1min);
  CHECK(c.stopped());
}

TEST_CASE("redis model: every delivery settled once as the reference model predicts",
          "[redis][model]") {
  const char* env = std::getenv("WORKERS_REDIS_MODEL_SEEDS");
  unsigned seeds = env ? unsigned(std::atoi(env)) : 300;
  for (unsigned seed = 1; seed <= seeds; ++seed) run_seed(seed);
}

}  // namespace redis_model_tests
