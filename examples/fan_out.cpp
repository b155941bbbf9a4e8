// Fan-out: one question asked of several workers at once, their answers
// gathered in the workers' order. Four shards of a word index each count a word
// in their part of a text; a ranged parallel group (a vector of deferred
// push_request_and_wait operations given to asio::experimental::make_parallel_group)
// launches them together and completes once every shard has answered. Each
// shard's answer, a value or an error, lands in its own slot.

#include <workers/format.hpp>
#include <workers/workers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;

// 1. The group's name; a shard is named by its number.
struct shard_name {
  static constexpr std::string_view base[] = {"fan_out", "shard"};
  using type = int;
};

// 2. The one request: how many times a word occurs in the shard's text.
struct count_word {
  using result_type = std::size_t;
  using error_type = std::string;  // "empty word"
  std::string word;
};
struct shard_requests {
  using types = workers::request_types<count_word>;
  using view_type = std::string;
  static std::string view(const count_word& r) { return "count " + r.word; }
};

// 3. The state (the shard's words), the parameters (its text) and a view (how many words).
struct shard_types {
  using state_type = std::vector<std::string>;
  using parameters_type = std::string;
  using view_type = std::size_t;
  static std::size_t view(const std::vector<std::string>& words, const std::string&) {
    return words.size();
  }
};

using word_index = workers::make_single<shard_name, shard_requests, shard_types>;
using queue = workers::queue<workers::infinite>;
using shard = word_index::worker<queue>;

// 4. The handlers: plain functions, so each shard is plain code on its strand.
struct shard_handlers {
  std::vector<std::string> on_launch(shard&, const int&, const std::string& text) {
    std::vector<std::string> words;
    std::istringstream in(text);
    for (std::string w; in >> w;) words.push_back(std::move(w));
    return words;
  }
  workers::result<std::size_t, std::string> on_request(shard& self, const count_word& r) {
    if (r.word.empty()) return {boost::system::in_place_error, "empty word"};
    const auto& words = workers::state(self);
    return static_cast<std::size_t>(std::count(words.begin(), words.end(), r.word));
  }
};

// The fan-out: one deferred operation per shard, all of one type, launched
// together; `results[i]` is `shards[i]`'s answer, whichever answered first
// (`order` lists the shards' indices in the order they answered).
using count_op = decltype(workers::push_request_and_wait(
    std::declval<const shard&>(), std::declval<count_word>(), asio::deferred));

asio::awaitable<std::vector<workers::reply_result<count_word>>> count_everywhere(
    const std::vector<shard>& shards, const std::string& word) {
  std::vector<count_op> ops;
  for (const shard& s : shards)
    ops.push_back(workers::push_request_and_wait(s, count_word{word}, asio::deferred));
  auto group = asio::experimental::make_parallel_group(std::move(ops));  // see README, Compilers
  auto [order, results] =
      co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  co_return std::move(results);
}

constexpr std::array<std::string_view, 4> texts = {
    "the worker takes the request and the worker answers",
    "a table holds the workers by name",
    "the caller waits for the answer of the worker",
    "every caller is answered exactly once",
};

asio::awaitable<int> run(word_index::table<queue> table) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<shard> shards;
  for (int i = 0; i < static_cast<int>(texts.size()); ++i) {
    std::string text(texts[static_cast<std::size_t>(i)]);  // named: see README, Compilers
    auto launched = co_await workers::launch(table, ex, i, std::move(text), shard_handlers{});
    if (!launched) throw std::runtime_error(fmt::format("{}", launched.error()));
    shards.push_back(*launched);
  }

  // Every shard answers; the counts come back in the shards' order.
  const std::string word = "worker";
  auto counts = co_await count_everywhere(shards, word);
  std::size_t total = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    fmt::print("shard {}: {} x \"{}\"\n", i, counts[i].value(), word);
    total += counts[i].value();
  }
  fmt::print("total: {}\n", total);

  // A closed shard answers too, in its own slot: `worker_closed`, not a lost reply.
  co_await workers::shutdown(shards[2]);
  const std::string other = "the";
  auto partial = co_await count_everywhere(shards, other);
  std::size_t found = 0, closed = 0;
  for (std::size_t i = 0; i < partial.size(); ++i) {
    if (partial[i]) {
      fmt::print("shard {}: {} x \"{}\"\n", i, *partial[i], other);
      found += *partial[i];
    } else {
      fmt::print("shard {}: {}\n", i, partial[i].error());
      closed += partial[i].error().is_closed() ? 1 : 0;
    }
  }
  fmt::print("total without shard 2: {}\n", found);

  for (const shard& s : shards) co_await workers::shutdown(s);
  if (total != 3 || found != 4 || closed != 1 || table.size() != 0) {
    fmt::print("error: expected 3 \"worker\", 4 \"the\" without shard 2, one closed shard\n");
    co_return 1;
  }
  co_return 0;
}

int main() {
  asio::thread_pool pool(2);  // the shards run in parallel, each on its own strand
  auto table = word_index::create_table(workers::infinite_queue{});
  auto done = asio::co_spawn(pool, run(table), asio::use_future);
  const int status = done.get();
  pool.join();
  return status;
}
