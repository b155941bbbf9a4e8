#pragma once

// A redis-server of its own for each test: a child process on a unix socket
// in the build tree (WORKERS_REDIS_DIR), without persistence or with an
// append-only file synced at every write (the broker-crash case). Killed
// (SIGKILL) or stopped (SIGTERM) by the test, stopped at the end.

#include <hiredis/hiredis.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace test_redis {

// The redis-server to run: $WORKERS_REDIS_SERVER, else the one on the PATH.
inline std::string server_binary() {
  if (const char* env = std::getenv("WORKERS_REDIS_SERVER"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    auto candidate = dirs.substr(start, end - start) + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

class server {
 public:
  explicit server(bool append_only = false) : append_only_(append_only) {
    static std::atomic<int> serial{0};
    const char* base = std::getenv("WORKERS_REDIS_DIR");
    dir_ = fmt::format("{}/redis-{}-{}", base && *base ? base : "/tmp", ::getpid(), serial++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    socket_ = dir_ + "/s";
    if (socket_.size() >= 100) {  // sun_path is 108 bytes
      socket_ = fmt::format("/tmp/workers-redis-{}-{}.sock", ::getpid(), serial++);
    }
    start();
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() {
    stop(SIGTERM);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  const std::string& socket() const { return socket_; }

  // Starts redis-server and waits until it answers PING.
  void start() {
    auto binary = server_binary();
    if (binary.empty()) throw std::runtime_error("redis-server not found");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(binary.c_str(), "redis-server", "--port", "0", "--unixsocket", socket_.c_str(),
              "--dir", dir_.c_str(), "--save", "", "--appendonly", append_only_ ? "yes" : "no",
              "--appendfsync", "always", "--logfile", (dir_ + "/log").c_str(), "--daemonize", "no",
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not start on " + socket_);
  }
  // Ends the server: SIGKILL (a crash) or SIGTERM (a stop).
  void stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // A synchronous command, for the test's own checks.
  long long integer(const std::string& command) {
    auto* r = run(command);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return n;
  }
  redisReply* run(const std::string& command) {
    auto* c = redisConnectUnix(socket_.c_str());
    if (!c || c->err) {
      if (c) redisFree(c);
      return nullptr;
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, command.c_str()));
    redisFree(c);
    return r;
  }

 private:
  bool ping() {
    auto* r = run("PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    return ok;
  }

  bool append_only_;
  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace test_redis
