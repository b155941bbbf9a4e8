// Chaos against a real Redis: three consumer processes share a stream of
// entries (ordinary jobs, poison jobs that always fail retryably, malformed
// entries); one consumer is killed with SIGKILL while it holds deliveries,
// another is stopped with a drain (SIGTERM), the third finishes the work,
// claiming the dead one's deliveries after the lease.
//
//   workers_redis_chaos <entries>            the run (prints its counts)
//   workers_redis_chaos consume <socket> <name> <log>   one consumer process
//
// Each consumer appends one line per handled delivery ("H <id> <count>"),
// per acknowledgement ("A <id>") and per dead letter ("D <id>") to its log
// with write(2), so that a killed process's lines survive it. The checks:
// every valid entry handled at least once, acked exactly once (no XACK found
// it already acked), none lost (the pending list empty, every entry read),
// redeliveries carry count > 1, poison and malformed entries in the
// dead-letter stream (poison ones after 5 deliveries), malformed ones never
// handled.

#include "jobs.hpp"
#include "redis/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
namespace redis = workers::redis;

constexpr int poison_entries = 20;
constexpr int malformed_entries = 20;

// One line, appended at once (O_APPEND, one write).
struct line_log {
  int fd;
  void write(const std::string& line) const {
    auto text = line + "\n";
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  }
};

struct chaos_handlers {
  line_log log;
  workers::result<std::int64_t, jobs::job_error> on_request(jobs::worker&, const jobs::job& j) {
    log.write(fmt::format("H {} {}", j.delivery.id, j.delivery.count));
    if (j.kind == "retry") return {boost::system::in_place_error, jobs::job_error{"poison", true}};
    return j.n;
  }
};

int consume(const std::string& socket, const std::string& name, const std::string& path) {
  line_log log{::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644)};
  if (log.fd < 0) return 2;
  boost::asio::io_context io;
  auto table = jobs::group::create_table(workers::infinite_queue{});
  std::optional<jobs::worker> w;
  workers::launch(table, io, name, workers::unit{}, chaos_handlers{log}, {},
                  [&](auto r) { w.emplace(std::move(r).value()); });
  io.run_one();
  while (!w) io.run_one();
  redis::consumer_options o;
  o.stream = "jobs";
  o.group = "chaos";
  o.lease = 2s;
  o.poll = 5ms;
  o.retry.first = 5ms;
  o.retry.cap = 50ms;
  o.on_event = [log](const redis::consumer_event& e) {
    if (e.what == redis::consumer_event::kind::acked) log.write("A " + e.id);
    if (e.what == redis::consumer_event::kind::dead_lettered) log.write("D " + e.id);
    if (e.what == redis::consumer_event::kind::refused) log.write("R " + e.text);
  };
  auto c = redis::consume(*w, redis::hiredis_connector::unix_socket(socket), o);
  // SIGTERM: a drain; what was queued is handled and settled, then the process ends.
  boost::asio::signal_set stop(io, SIGTERM);
  stop.async_wait([&](boost::system::error_code, int) {
    workers::trigger_shutdown(*w, workers::shutdown_mode::drain);
  });
  while (!c.stopped()) io.run_one();
  stop.cancel();
  io.run();
  auto s = c.stats();
  log.write(fmt::format("S {} {} {} {}", s.acked, s.dead_lettered, s.claimed, s.ack_duplicates));
  ::close(log.fd);
  return 0;
}

pid_t spawn(const char* self, const std::string& socket, const std::string& name,
            const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(self, self, "consume", socket.c_str(), name.c_str(), log.c_str(),
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  return pid;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::size_t handled_lines(const std::vector<std::string>& logs) {
  std::size_t n = 0;
  for (auto& p : logs)
    for (auto& l : lines_of(p)) n += l[0] == 'H';
  return n;
}

long long group_field(test_redis::server& s, const std::string& field) {
  auto* r = s.run("XINFO GROUPS jobs");
  long long v = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
    auto* g = r->element[0];
    for (std::size_t i = 0; i + 1 < g->elements; i += 2)
      if (field == g->element[i]->str) v = g->element[i + 1]->integer;
  }
  if (r) freeReplyObject(r);
  return v;
}

int fail(const std::string& why) {
  std::fprintf(stderr, "chaos: FAILED: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "consume") return consume(argv[2], argv[3], argv[4]);
  if (test_redis::server_binary().empty()) {
    std::puts("redis-server not found: the chaos test is skipped");
    return 0;
  }
  const int entries = argc > 1 ? std::atoi(argv[1]) : 100000;
  test_redis::server server;
  const auto socket = server.socket();

  // The entries: ordinary jobs, then poison and malformed ones spread among them.
  {
    boost::asio::io_context io;
    redis::remote_table<jobs::group::definition> remote(
        io.get_executor(), redis::hiredis_connector::unix_socket(socket), {.stream = "jobs"});
    int done = 0, failed = 0;
    for (int i = 0; i < entries; ++i) {
      remote.push_request(jobs::job{i, i % (entries / poison_entries) == 7 ? "retry" : "ok", {}},
                          [&](boost::system::error_code ec, std::string) {
                            ++done;
                            failed += ec ? 1 : 0;
                          });
      if (i % (entries / malformed_entries) == 11) server.integer("XADD jobs * type job body {");
      if (i % 1000 == 999)
        while (done <= i - 500) io.run_one();
    }
    while (done < entries) io.run_one();
    if (failed) return fail(fmt::format("{} pushes failed", failed));
  }
  const long long total = server.integer("XLEN jobs");
  if (total != entries + malformed_entries)
    return fail(
        fmt::format("XLEN {} after {} pushes and {} malformed", total, entries, malformed_entries));

  const char* dir = std::getenv("WORKERS_REDIS_DIR");
  std::vector<std::string> logs;
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    logs.push_back(fmt::format("{}/chaos-{}-{}.log", dir && *dir ? dir : "/tmp", ::getpid(), i));
    std::remove(logs.back().c_str());
    pids.push_back(spawn(argv[0], socket, fmt::format("c{}", i), logs.back()));
  }
  auto wait_for = [&](auto done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  };
  // A third of the work done: consumer 0 dies holding deliveries.
  if (!wait_for([&] { return handled_lines(logs) >= std::size_t(entries / 3); }, 300s))
    return fail("the consumers did not get through a third of the entries");
  ::kill(pids[0], SIGKILL);
  ::waitpid(pids[0], nullptr, 0);
  // Two thirds: consumer 1 is drained.
  if (!wait_for([&] { return handled_lines(logs) >= std::size_t(2 * entries / 3); }, 300s))
    return fail("the consumers did not get through two thirds of the entries");
  ::kill(pids[1], SIGTERM);
  int status = 0;
  ::waitpid(pids[1], &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("the drained consumer failed");
  // Consumer 2 finishes, the dead one's deliveries claimed after the lease.
  if (!wait_for(
          [&] { return group_field(server, "pending") == 0 && group_field(server, "lag") == 0; },
          300s))
    return fail(fmt::format("still pending: {}, lag {}", group_field(server, "pending"),
                            group_field(server, "lag")));
  ::kill(pids[2], SIGTERM);
  ::waitpid(pids[2], &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("the last consumer failed");

  // The accounts.
  std::map<std::string, int> handled, acked, dead;
  std::map<std::string, std::uint64_t> max_count;
  std::size_t redelivered = 0, duplicates = 0, claimed = 0;
  std::vector<std::string> refusals;
  for (auto& p : logs)
    for (auto& l : lines_of(p)) {
      std::istringstream in(l);
      std::string tag, id;
      in >> tag;
      if (tag == "H") {
        std::uint64_t count;
        in >> id >> count;
        ++handled[id];
        max_count[id] = std::max(max_count[id], count);
        redelivered += count > 1;
      } else if (tag == "A") {
        in >> id;
        ++acked[id];
      } else if (tag == "D") {
        in >> id;
        ++dead[id];
      } else if (tag == "S") {
        std::uint64_t a, d, c, dup;
        in >> a >> d >> c >> dup;
        claimed += c;
        duplicates += dup;
      } else if (tag == "R") {
        refusals.push_back(l);
      }
    }
  // Every entry read, and none pending: each was acked or dead-lettered in Redis.
  auto dead_letters = server.integer("XLEN jobs:dead");
  fmt::print("chaos: {} entries ({} poison, {} malformed), 3 consumers, one killed, one drained\n",
             total, poison_entries, malformed_entries);
  fmt::print("  handled: {} deliveries of {} entries; redelivered (count > 1): {}; claimed: {}\n",
             handled_lines(logs), handled.size(), redelivered, claimed);
  fmt::print("  acked (logged by live consumers): {}; XACKs that found the entry settled: {}\n",
             acked.size(), duplicates);
  fmt::print("  dead letters: {}; pending: {}; lag: {}\n", dead_letters,
             group_field(server, "pending"), group_field(server, "lag"));
  for (auto& r : refusals) fmt::print("  {}\n", r);
  if (handled.size() != std::size_t(entries)) return fail("an entry was never handled");
  if (duplicates != 0) return fail("an XACK found its entry acked already");
  for (auto& [id, n] : acked)
    if (n != 1) return fail("entry " + id + " acked twice");
  if (dead_letters != poison_entries + malformed_entries) return fail("dead letters");
  if (redelivered == 0 || claimed == 0) return fail("nothing was redelivered after the kill");
  for (auto& [id, n] : max_count)
    if (handled[id] > 1 && n < 2) return fail("entry " + id + " handled again with count 1");
  // The poison entries: handled up to 5 times, then dead.
  std::size_t poison_seen = 0;
  for (auto& [id, n] : max_count) poison_seen += n >= 5;
  if (poison_seen < std::size_t(poison_entries) - 1)
    return fail(fmt::format("only {} entries reached 5 deliveries", poison_seen));
  std::puts("chaos: passed");
  return 0;
}
