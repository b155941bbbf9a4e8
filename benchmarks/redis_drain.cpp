// Row R_drain: a worker fed by a Redis Streams consumer group drains
// 1,000,000 entries (XREADGROUP COUNT 100, JSON-decoded, handled, XACKed),
// against a plain hiredis XREADGROUP/XACK loop written by hand (the same
// decoding and handling, synchronous: one read and one XACK per batch) on the
// same redis-server. Each drain reads the same stream through a consumer
// group of its own; the two alternate, `rounds` times each.
//
//   workers_redis_drain [entries] [rounds] [json-out]
//
// Prints entries/s for each drain and the ratio workers / by hand of the
// medians, and writes them to json-out if given.

#include "../tests/redis/jobs.hpp"
#include "../tests/redis/server.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace redis = workers::redis;
using clock_type = std::chrono::steady_clock;

std::int64_t sink = 0;

void fill(test_redis::server& server, int entries) {
  auto* c = redisConnectUnix(server.socket().c_str());
  auto fields = jobs::codec{}.encode(jobs::job{1, "ok", {}});
  const int chunk = 1000;
  for (int i = 0; i < entries; i += chunk) {
    int n = std::min(chunk, entries - i);
    for (int k = 0; k < n; ++k) {
      const char* argv[] = {
          "XADD", "jobs", "*", "type", fields[0].second.c_str(), "body", fields[1].second.c_str()};
      redisAppendCommandArgv(c, 7, argv, nullptr);
    }
    for (int k = 0; k < n; ++k) {
      void* r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK) std::abort();
      freeReplyObject(r);
    }
  }
  redisFree(c);
}

// The peer: XREADGROUP COUNT 100, decode each entry, handle it, XACK the batch.
[[gnu::noinline]] double by_hand(test_redis::server& server, const std::string& group,
                                 int entries) {
  auto* c = redisConnectUnix(server.socket().c_str());
  freeReplyObject(redisCommand(c, "XGROUP CREATE jobs %s 0", group.c_str()));
  jobs::codec codec;
  int done = 0;
  auto start = clock_type::now();
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  std::vector<std::string> ids;
  while (done < entries) {
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "XREADGROUP GROUP %s hand COUNT 100 STREAMS jobs >", group.c_str()));
    if (!r || r->type != REDIS_REPLY_ARRAY) std::abort();
    auto* list = r->element[0]->element[1];
    ids.clear();
    for (std::size_t i = 0; i < list->elements; ++i) {
      auto* e = list->element[i];
      ids.emplace_back(e->element[0]->str, e->element[0]->len);
      redis::fields f;
      auto* kv = e->element[1];
      for (std::size_t k = 0; k + 1 < kv->elements; k += 2)
        f.emplace_back(std::string(kv->element[k]->str, kv->element[k]->len),
                       std::string(kv->element[k + 1]->str, kv->element[k + 1]->len));
      std::string why;
      auto job = codec.decode(f, why);
      if (!job) std::abort();
      sink += std::get<jobs::job>(*job).n * 2;
    }
    freeReplyObject(r);
    argv = {"XACK", "jobs", group.c_str()};
    lengths = {4, 4, group.size()};
    for (auto& id : ids) {
      argv.push_back(id.c_str());
      lengths.push_back(id.size());
    }
    freeReplyObject(redisCommandArgv(c, int(argv.size()), argv.data(), lengths.data()));
    done += int(ids.size());
  }
  double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  redisFree(c);
  return entries / seconds;
}

struct drain_handlers {
  workers::result<std::int64_t, jobs::job_error> on_request(jobs::worker&, const jobs::job& j) {
    sink += j.n * 2;
    return j.n;
  }
};

// A worker and its consumer (batch 100, the default window of 200 unsettled).
[[gnu::noinline]] double with_workers(test_redis::server& server, const std::string& group,
                                      int entries) {
  boost::asio::io_context io(1);
  auto table = jobs::group::create_table(workers::infinite_queue{});
  std::optional<jobs::worker> w;
  workers::launch(table, io, "drain", workers::unit{}, drain_handlers{}, {},
                  [&](auto r) { w.emplace(std::move(r).value()); });
  while (!w) io.run_one();
  redis::consumer_options o;
  o.stream = "jobs";
  o.group = group;
  o.batch = 100;
  o.poll = std::chrono::milliseconds(1);
  auto start = clock_type::now();
  auto c = redis::consume(*w, redis::hiredis_connector::unix_socket(server.socket()), o);
  while (c.stats().acked < std::uint64_t(entries)) io.run_one();
  double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  workers::trigger_shutdown(*w);
  io.run();
  return entries / seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (test_redis::server_binary().empty()) {
    std::puts("redis-server not found: the Redis drain benchmark is skipped");
    return 0;
  }
  const int entries = argc > 1 ? std::atoi(argv[1]) : 1000000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  test_redis::server server;
  fill(server, entries);
  std::vector<double> hand, ours;
  const char* only = std::getenv("DRAIN_ONLY");  // "hand" or "workers": one side (profiling)
  for (int i = 0; i < rounds; ++i) {
    hand.push_back(only && *only == 'w' ? 1 : by_hand(server, fmt::format("hand{}", i), entries));
    ours.push_back(
        only && *only == 'h' ? 1 : with_workers(server, fmt::format("workers{}", i), entries));
    fmt::print("round {}: by hand {:.0f} entries/s, workers {:.0f} entries/s ({:.2f})\n", i,
               hand.back(), ours.back(), ours.back() / hand.back());
  }
  double ratio = median(ours) / median(hand);
  fmt::print("R_drain: {} entries, batch 100: workers {:.0f}/s, by hand {:.0f}/s, ratio {:.2f}\n",
             entries, median(ours), median(hand), ratio);
  if (argc > 3) {
    std::ofstream out(argv[3]);
    out << fmt::format(
        "{{\"row\": \"R_drain\", \"entries\": {}, \"batch\": 100, \"workers_per_s\": {:.0f}, "
        "\"by_hand_per_s\": {:.0f}, \"ratio\": {:.3f}}}\n",
        entries, median(ours), median(hand), ratio);
  }
  return sink == 42 ? 1 : 0;
}
