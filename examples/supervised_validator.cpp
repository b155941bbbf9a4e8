// A supervised block validator: its cache gets corrupted by a bad block and
// the validation throws. Its restart policy (transient, at most 3 restarts in
// 10 s, a backoff from 50 ms) restarts it: on_close of the broken incarnation
// runs, then, after the backoff, on_launch builds a fresh cache, and the
// blocks that were waiting are validated in order by the new incarnation.
// Every caller is answered once: the one whose block crashed it gets the
// exception, the others their result. The handle taken before the crash
// works on throughout.
//
// Run by ctest as example.supervised_validator.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct validate_block {
  using result_type = int;  // the block's level, once valid
  using error_type = std::string;
  int level;
  bool corrupt = false;
};

struct validator_name {
  static constexpr std::array<std::string_view, 2> base{"node", "validator"};
  using type = workers::unit;
};
struct validator_requests {
  using types = workers::request_types<validate_block>;
  using view_type = std::string;
  static std::string view(const validate_block& r) { return fmt::format("block {}", r.level); }
};
struct validator_types {
  using state_type = std::vector<int>;  // the cache: levels validated by this incarnation
  using parameters_type = workers::unit;
  using view_type = std::size_t;
  static std::size_t view(const std::vector<int>& cache, const workers::unit&) {
    return cache.size();
  }
};
using validator = workers::make_single<validator_name, validator_requests, validator_types>;
using validator_worker = validator::worker<workers::queue<workers::infinite>>;

struct validator_handlers {
  std::vector<int> on_launch(validator_worker& self, const workers::unit&, const workers::unit&) {
    if (auto why = workers::last_close_reason(self))
      std::printf("restart %u after %s: a fresh cache\n", workers::restarts(self),
                  fmt::format("{}", *why).c_str());
    return {};
  }
  workers::result<int, std::string> on_request(validator_worker& self, const validate_block& b) {
    if (b.corrupt) throw std::runtime_error(fmt::format("cache corrupted by block {}", b.level));
    workers::state(self).push_back(b.level);
    return b.level;
  }
  void on_close(validator_worker&, const workers::close_reason& why) {
    std::printf("incarnation closed: %s\n", fmt::format("{}", why).c_str());
  }
};

int main() {
  asio::io_context io;
  auto table = validator::create_table(workers::infinite_queue{});

  // The restart policy: a crash restarts the validator, three times in 10 s at
  // most, after 50 ms, then 100 ms, ... (OTP's transient child).
  workers::launch_options options;
  options.restart = {.policy = workers::restart_policy::transient,
                     .intensity = 3,
                     .period = 10s,
                     .backoff = workers::restart_backoff{.min = 50ms, .max = 1s}};
  workers::launch(table, io, workers::unit{}, workers::unit{}, validator_handlers{}, options,
                  [&](auto launched) {
                    validator_worker w = launched.value();
                    for (int level = 1; level <= 5; ++level)
                      workers::push_request_and_wait(
                          w, validate_block{level, level == 2}, [w, level](auto r) {
                            if (level == 2) {  // its caller gets the crash
                              assert(!r && r.error().code() == workers::errc::handler_exception);
                              std::printf("block 2: %s; the validator is %s\n",
                                          fmt::format("{}", r.error()).c_str(),
                                          fmt::format("{}", workers::status(w)).c_str());
                              return;
                            }
                            assert(r && *r == level);  // before the crash, or after the restart
                            std::printf("block %d valid\n", level);
                            if (level == 5) {
                              assert(workers::information(w).incarnations == 2);
                              workers::trigger_shutdown(w);
                            }
                          });
                  });
  io.run();
}
