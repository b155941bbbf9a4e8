#pragma once

// The group the Redis tests, the example and the benchmark share: jobs that
// carry a number, fail on demand (retryable or not), throw on demand.

#include <workers/redis.hpp>
#include <workers/workers.hpp>

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace jobs {

// What a job's handler may return as its error.
struct job_error {
  std::string what;
  bool transient = false;
  bool retryable() const noexcept { return transient; }
};

struct job {
  using result_type = std::int64_t;
  using error_type = job_error;
  static constexpr std::string_view wire_name = "job";
  std::int64_t n = 0;
  // "ok", "retry" (a retryable error), "fail" (a permanent one), "throw",
  // "slow" (an awaited handler that waits for its test).
  std::string kind = "ok";
  workers::redis::delivery delivery;
};

inline void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const job& j) {
  v = {{"n", j.n}, {"kind", j.kind}};
}
inline job tag_invoke(boost::json::value_to_tag<job>, const boost::json::value& v) {
  const auto& o = v.as_object();
  return job{o.at("n").as_int64(), std::string(o.at("kind").as_string()), {}};
}

struct names {
  static constexpr std::array<std::string_view, 1> base{"jobs"};
  using type = std::string;
};
struct requests {
  using types = workers::request_types<job>;
  using view_type = std::string;
  static std::string view(const job& j) { return fmt::format("job {} {}", j.n, j.kind); }
};
struct types {
  using state_type = workers::unit;
  using parameters_type = workers::unit;
  using view_type = workers::unit;
  static workers::unit view(const workers::unit&, const workers::unit&) { return {}; }
};
using group = workers::make_single<names, requests, types>;
using worker = group::worker<workers::queue<workers::infinite>>;
using codec = workers::redis::json_codec<group::any_request>;

}  // namespace jobs

template <>
struct fmt::formatter<jobs::job_error> : fmt::formatter<std::string_view> {
  auto format(const jobs::job_error& e, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(e.what, ctx);
  }
};
