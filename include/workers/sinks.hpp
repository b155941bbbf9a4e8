#pragma once

/// @file
/// @brief The sinks the library ships: `fmt_sink` (one line per event to a
/// `FILE*` or a `std::ostream`), `backlog_sink` (a bounded ring per level, read
/// while workers run), `fan_out` (several sinks), and the text of an event.
/// The silent default needs none of them: it is the empty `any_sink`.

#include <workers/detail/config.hpp>
#include <workers/events.hpp>
#include <workers/sink.hpp>

#include <boost/circular_buffer.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE

/// @brief The message of an event, as upstream words it where upstream has the
/// event (`worker started for alice`, `worker terminated [test-calc]`, ...).
inline std::string message_of(const event& e) {
  using us = std::chrono::microseconds;
  const auto base = fmt::format("{}", fmt::join(e.section, "-"));
  const auto status = [](const request_status& s) {
    return fmt::format("Request pushed on {:%FT%TZ}, treated in {}, completed in {}",
                       std::chrono::time_point_cast<us>(s.pushed),
                       std::chrono::duration_cast<us>(s.treated),
                       std::chrono::duration_cast<us>(s.completed));
  };
  struct visitor {
    const std::string& base;
    decltype(status)& st;
    std::string operator()(const events::started&) const { return "worker started"; }
    std::string operator()(const events::started_for& f) const {
      return "worker started for " + f.name;
    }
    std::string operator()(const events::triggering_shutdown&) const {
      return "triggering shutting down";
    }
    std::string operator()(const events::terminated&) const {
      return fmt::format("worker terminated [{}]", base);
    }
    std::string operator()(const events::crashed& f) const {
      return fmt::format("worker crashed [{}]: {}", base, fmt::join(f.errors, "; "));
    }
    std::string operator()(const events::request_no_errors& f) const {
      return fmt::format("{} {}", f.view.text(), st(f.status));
    }
    std::string operator()(const events::request_error& f) const {
      return fmt::format("{} {} {}", f.view.text(), st(f.status), f.error.text());
    }
    std::string operator()(const events::launch_failed& f) const {
      return "launch failed: " + f.error;
    }
    std::string operator()(const events::request_dropped& f) const {
      return fmt::format("{} dropped: left unhandled", f.view.text());
    }
    std::string operator()(const events::request_cancelled& f) const {
      return fmt::format("{} cancelled: its callers gave up{}", f.view.text(),
                         f.handled ? ", its result was discarded" : "");
    }
    std::string operator()(const events::request_refused& f) const {
      return fmt::format("{} refused: the worker is closing", f.view.text());
    }
    std::string operator()(const events::handler_exception& f) const {
      return fmt::format("{} threw: {}", f.where, f.error);
    }
    std::string operator()(const events::queue_high& f) const {
      return fmt::format("queue high: {} pending, the oldest waited {}", f.length,
                         std::chrono::duration_cast<us>(f.oldest_age));
    }
    std::string operator()(const events::queue_normal& f) const {
      return fmt::format("queue back to normal: {} pending", f.length);
    }
    std::string operator()(const events::shutdown_escalated& f) const {
      return fmt::format("shutdown deadline expired: {} escalated to {}", to_string(f.from),
                         to_string(f.to));
    }
    std::string operator()(const events::request_slow& f) const {
      return fmt::format("{} slow: its handler ran {}{}", f.view.text(),
                         std::chrono::duration_cast<us>(f.running),
                         f.returned ? ", blocking the worker's strand" : " and runs on");
    }
    std::string operator()(const events::request_stuck& f) const {
      return fmt::format(
          "{} stuck: its handler ran {}{}", f.view.text(),
          std::chrono::duration_cast<us>(f.running),
          f.returned ? ", blocking the worker's strand" : " and runs on: it is cancelled");
    }
    std::string operator()(const events::restarting& f) const {
      return fmt::format("restarting (attempt {}) in {} after {}{}{}", f.attempt,
                         std::chrono::duration_cast<us>(f.delay), to_string(f.cause),
                         f.errors.empty() ? "" : ": ", fmt::join(f.errors, "; "));
    }
    std::string operator()(const events::restarted& f) const {
      return fmt::format("restarted (attempt {})", f.attempt);
    }
    std::string operator()(const events::restart_limit_reached& f) const {
      return fmt::format("restart limit reached: more than {} restart(s) in {}: {}", f.intensity,
                         std::chrono::duration_cast<us>(f.period), fmt::join(f.errors, "; "));
    }
  };
  return std::visit(visitor{base, status}, e.fields);
}

/// @brief One line for an event, without the newline:
/// `2026-11-30T11:20:43.123456Z info terminate_test-calc [test-calc_alice] worker terminated
/// [test-calc]`.
inline std::string to_line(const event& e) {
  return fmt::format("{:%FT%TZ} {} {} [{}] {}",
                     std::chrono::time_point_cast<std::chrono::microseconds>(e.time),
                     to_string(e.level), e.name(), e.worker, message_of(e));
}

/// @brief Writes one line per event of `min_level` or above to a `FILE*` or a
/// `std::ostream`, which must outlive the sink. Lines never interleave (one lock),
/// and each is flushed. Thread safety: `handle` may be called from any thread.
class fmt_sink {
 public:
  /// @brief Writes to `out` the events of `min_level` and above.
  explicit fmt_sink(std::FILE* out, level min_level = level::info) noexcept
      : file_(out), min_(min_level) {}
  /// @brief Writes to `out` the events of `min_level` and above.
  explicit fmt_sink(std::ostream& out, level min_level = level::info) noexcept
      : stream_(&out), min_(min_level) {}
  /// @brief Writes to the same output, with its own lock: lines of two copies
  /// may interleave.
  fmt_sink(const fmt_sink& other) noexcept
      : file_(other.file_), stream_(other.stream_), min_(other.min_) {}

  /// @brief True for `min_level` and above.
  bool should_handle(level l) const noexcept { return l >= min_; }
  /// @brief Writes `to_line(e)` and a newline, then flushes.
  void handle(const event& e) {
    const std::string line = to_line(e) + '\n';
    std::lock_guard lock(mutex_);
    if (file_) {
      std::fwrite(line.data(), 1, line.size(), file_);
      std::fflush(file_);
    } else {
      stream_->write(line.data(), static_cast<std::streamsize>(line.size()));
      stream_->flush();
    }
  }

 private:
  std::FILE* file_ = nullptr;
  std::ostream* stream_ = nullptr;
  level min_;
  std::mutex mutex_;
};

/// @brief Keeps the last `per_level` events of each level from `min_level` up,
/// as the event backlog an Octez node serves over its RPCs. Install it shared
/// (`std::make_shared<backlog_sink>(...)`) to read it while workers run; reads
/// and writes take one lock. Thread safety: every member may be called from any thread.
class backlog_sink {
 public:
  /// @brief Keeps the last `per_level` events of each level from `min_level`
  /// up (0: keeps nothing).
  explicit backlog_sink(std::size_t per_level = 1000, level min_level = level::debug)
      : per_level_(per_level), min_(min_level) {}

  /// @brief True for `min_level` and above, unless it keeps nothing.
  bool should_handle(level l) const noexcept { return l >= min_ && per_level_ > 0; }
  /// @brief Keeps a copy of `e`, dropping the oldest of its level if full.
  void handle(const event& e) {
    std::lock_guard lock(mutex_);
    auto& ring = rings_[static_cast<std::size_t>(e.level)];
    if (per_level_ == 0) return;
    if (ring.capacity() == 0) ring.set_capacity(per_level_);  // a level's room, once it is used
    ring.push_back(e);                                        // full: overwrites the oldest
  }

  /// @brief The events kept at level `l`, oldest first.
  std::vector<event> events(level l) const {
    std::lock_guard lock(mutex_);
    const auto& ring = rings_[static_cast<std::size_t>(l)];
    return {ring.begin(), ring.end()};
  }
  /// @brief Every level that keeps events, with them, oldest first (upstream's
  /// `backlog : (level * event list) list`).
  std::vector<std::pair<level, std::vector<event>>> snapshot() const {
    std::vector<std::pair<level, std::vector<event>>> out;
    std::lock_guard lock(mutex_);
    for (std::size_t l = 0; l < rings_.size(); ++l)
      if (!rings_[l].empty())
        out.emplace_back(static_cast<level>(l),
                         std::vector<event>(rings_[l].begin(), rings_[l].end()));
    return out;
  }

 private:
  std::size_t per_level_;
  level min_;
  mutable std::mutex mutex_;
  std::array<boost::circular_buffer<event>, 6> rings_;
};

/// @brief Gives each event to every sink that wants its level, in order. A sink
/// that throws loses that event only (counted in `sink_failures()`).
/// Thread safety: as its sinks'.
class fan_out {
 public:
  /// @brief Gives events to `sinks`, asking each `should_handle` once per level now.
  explicit fan_out(std::vector<any_sink> sinks) : sinks_(std::move(sinks)) {
    for (const auto& s : sinks_) levels_.push_back(detail::levels_of(s));
  }

  /// @brief True if one of the sinks wants `l`.
  bool should_handle(level l) const noexcept {
    for (auto m : levels_)
      if (m & detail::bit_of(l)) return true;
    return false;
  }
  /// @brief Gives `e` to each sink that wants its level; never throws.
  void handle(const event& e) const noexcept {
    for (std::size_t i = 0; i < sinks_.size(); ++i)
      if (levels_[i] & detail::bit_of(e.level)) detail::deliver(sinks_[i], e);
  }

 private:
  std::vector<any_sink> sinks_;
  std::vector<std::uint8_t> levels_;
};

WORKERS_END_NAMESPACE
