// Model-based test: random operation sequences on every kind with callers
// (infinite, bounded, dropbox), run on the library and on a reference model,
// compared after every operation. WORKERS_MODEL_SEEDS sets how many (default
// 10,000); a failure prints its seed and a minimal sequence that replays it.

#include "support/model.hpp"
#include "support/catch.hpp"

#include <cstdlib>

// Named, so that the unity build keeps each file's helpers apart.
namespace model_tests {

std::uint32_t seed_count() {
  if (const char* env = std::getenv("WORKERS_MODEL_SEEDS")) return std::strtoul(env, nullptr, 10);
  return 10'000;
}

TEST_CASE("model: random sequences agree with the reference model after every operation",
          "[model]") {
  const std::uint32_t seeds = seed_count();
  std::uint32_t failed = 0;
  for (std::uint32_t seed = 1; seed <= seeds && failed < 3; ++seed) {
    const auto s = test::model::generate(seed);
    if (auto why = test::model::check(s)) {
      ++failed;
      const auto minimal = test::model::shrink(s);
      UNSCOPED_INFO("seed " << seed << ": " << *why << "\n  sequence: " << test::model::describe(s)
                            << "\n  minimal:  " << test::model::describe(minimal)
                            << "\n  why: " << test::model::check(minimal).value_or("?"));
    }
  }
  WARN("model: " << seeds << " seeds run");
  REQUIRE(failed == 0);
}

}  // namespace model_tests
