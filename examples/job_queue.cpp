// A distributed job queue on Redis Streams: a producer process pushes jobs to
// a stream (`redis::remote_table`), N consumer processes, each one worker fed
// by the stream's consumer group (`redis::consume`), share them. Each job is
// acknowledged once handled; a job whose handler fails with a retryable error
// is taken again after a backoff; one that fails for good goes to the
// dead-letter stream. Handlers are idempotent by delivery ID: a job handed
// over twice (a consumer died holding it) is not done twice here.
//
//   job_queue                       runs the demo: redis-server on 127.0.0.1,
//                                   3 consumers, a producer of 3000 jobs
//   job_queue consumer PORT NAME N  one consumer: drains once the group settled N jobs
//   job_queue producer PORT N       pushes N jobs
//
// Run by ctest as example.job_queue (skipped where redis-server is missing).

#include <workers/redis.hpp>
#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/value.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

namespace asio = boost::asio;
namespace redis = workers::redis;

// [job]
// Why a job failed; `retryable` (found by ADL) tells the consumer which
// failures are taken again after a backoff and which go to the dead letters.
enum class thumbnail_error { bad_width, storage_busy };
bool retryable(thumbnail_error e) { return e == thumbnail_error::storage_busy; }

// A job as it travels: `wire_name` names it in the entry's `type` field, its
// body is JSON (tag_invoke below); `delivery` is filled in by the consumer.
struct resize_image {
  using result_type = std::string;  // where the thumbnail went
  using error_type = thumbnail_error;
  static constexpr std::string_view wire_name = "resize_image";
  std::string path;
  int width = 0;
  redis::delivery delivery;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const resize_image& j) {
  v = {{"path", j.path}, {"width", j.width}};
}
resize_image tag_invoke(boost::json::value_to_tag<resize_image>, const boost::json::value& v) {
  return {boost::json::value_to<std::string>(v.at("path")), v.at("width").to_number<int>(), {}};
}
// [job]

struct job_name {
  static constexpr std::array<std::string_view, 1> base{"thumbnailer"};
  using type = std::string;
};
struct job_requests {
  using types = workers::request_types<resize_image>;
  using view_type = std::string;
  static std::string view(const resize_image& j) { return j.path; }
};
struct job_types {
  using state_type = std::unordered_set<std::string>;  // delivery IDs done by this process
  using parameters_type = workers::unit;
  using view_type = std::size_t;
  static std::size_t view(const state_type& done, const workers::unit&) { return done.size(); }
};
using thumbnailer = workers::make_single<job_name, job_requests, job_types>;
using thumbnailer_worker = thumbnailer::worker<workers::queue<workers::bounded>>;

// [handler]
struct thumbnail_handlers {
  workers::result<std::string, thumbnail_error> on_request(thumbnailer_worker& self,
                                                           const resize_image& job) {
    auto& done = workers::state(self);
    // At-least-once: a redelivered job (count > 1) may have been done already.
    if (job.delivery.count > 1 && done.count(job.delivery.id)) return std::string("already done");
    if (job.width <= 0) return thumbnail_error::bad_width;  // dead-lettered at once
    done.insert(job.delivery.id);
    return fmt::format("{}.{}px.jpg", job.path, job.width);
  }
};
// [handler]

int consumer(int port, const std::string& name, std::uint64_t stop_after) {
  asio::io_context io;
  auto table = thumbnailer::create_table(workers::bounded_queue{64});
  std::optional<thumbnailer_worker> w;
  workers::launch(table, io, name, workers::unit{}, thumbnail_handlers{}, {},
                  [&](auto r) { w.emplace(std::move(r).value()); });
  while (!w) io.run_one();
  // [consume]
  redis::consumer_options options;
  options.stream = "thumbnails";
  options.group = "thumbnailers";
  options.max_in_flight = 64;  // the queue's capacity
  auto broker = redis::hiredis_connector::tcp("127.0.0.1", port);
  redis::consumer c = redis::consume(*w, broker, options);
  // [consume]
  // The demo's end: the group has read every job and none is pending (this
  // process asks Redis; a real consumer runs until it is shut down).
  asio::steady_timer tick(io);
  std::shared_ptr<redis::connection> probe;
  broker->connect(io.get_executor(), [&](std::shared_ptr<redis::connection> conn, std::string) {
    probe = std::move(conn);
  });
  std::function<void()> check = [&] {
    tick.expires_after(std::chrono::milliseconds(50));
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      if (!probe) return check();
      probe->send({"XINFO", "GROUPS", "thumbnails"}, [&](std::optional<redis::reply> r) {
        long long read = 0, pending = -1;
        if (r)
          for (auto& g : r->elements)
            for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
              if (g.elements[i].str == "entries-read") read = g.elements[i + 1].integer;
              if (g.elements[i].str == "pending") pending = g.elements[i + 1].integer;
            }
        if (read >= static_cast<long long>(stop_after) && pending == 0) {
          probe->close();
          workers::trigger_shutdown(*w, workers::shutdown_mode::drain);
        } else {
          check();
        }
      });
    });
  };
  check();
  io.run();
  auto s = c.stats();
  std::printf("%s: %llu acked, %llu dead-lettered, %llu retried\n", name.c_str(),
              static_cast<unsigned long long>(s.acked),
              static_cast<unsigned long long>(s.dead_lettered),
              static_cast<unsigned long long>(s.retried));
  return 0;
}

int producer(int port, int jobs) {
  asio::io_context io;
  // [produce]
  redis::remote_table<thumbnailer::definition> remote(
      io.get_executor(), redis::hiredis_connector::tcp("127.0.0.1", port),
      {.stream = "thumbnails", .max_length = 1'000'000});
  int added = 0, answered = 0;
  for (int i = 0; i < jobs; ++i)
    remote.push_request(
        resize_image{fmt::format("/photos/{}.jpg", i), i % 100 == 99 ? 0 : 320, {}},
        [&](boost::system::error_code ec, std::string /*id*/) {
          added += ec ? 0 : 1;
          if (++answered == jobs) remote.close();  // Redis has every entry
        },
        /*trace=*/fmt::format("upload-{}", i));
  io.run();
  // [produce]
  std::printf("producer: %d of %d jobs added\n", added, jobs);
  return added == jobs ? 0 : 1;
}

// The demo: a redis-server on a free port of 127.0.0.1, the consumers, the producer.
int demo(const char* self) {
  const char* server = "redis-server";
  if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
    std::puts("redis-server not found: the job queue demo is skipped");
    return 0;
  }
  int port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto dir = fmt::format("/tmp/workers-job-queue-{}", ::getpid());
  std::system(fmt::format("mkdir -p {}", dir).c_str());
  pid_t redis = ::fork();
  if (redis == 0) {
    auto p = std::to_string(port);
    ::execlp(server, server, "--bind", "127.0.0.1", "--port", p.c_str(), "--save", "",
             "--appendonly", "no", "--dir", dir.c_str(), "--logfile", "log", "--daemonize", "no",
             static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  // The server accepts connections.
  for (int i = 0; i < 500; ++i) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    if (!ec) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int jobs = 3000;
  std::vector<pid_t> children;
  auto spawn = [&](std::vector<std::string> args) {
    pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> argv{const_cast<char*>(self)};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(self, argv.data());
      std::_Exit(127);
    }
    children.push_back(pid);
  };
  // Each consumer stops once the group settled every job (all acked or dead).
  for (int i = 0; i < 3; ++i)
    spawn({"consumer", std::to_string(port), fmt::format("c{}", i), std::to_string(jobs)});
  spawn({"producer", std::to_string(port), std::to_string(jobs)});
  int failures = 0;
  for (auto pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ::kill(redis, SIGTERM);
  ::waitpid(redis, nullptr, 0);
  std::system(fmt::format("rm -rf {}", dir).c_str());
  return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "demo";
  if (mode == "consumer" && argc == 5)
    return consumer(std::atoi(argv[2]), argv[3], std::strtoull(argv[4], nullptr, 10));
  if (mode == "producer" && argc == 4) return producer(std::atoi(argv[2]), std::atoi(argv[3]));
  return demo(argv[0]);
}
