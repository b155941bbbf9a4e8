#pragma once

/// @file
/// @brief `memory_broker`: an in-memory stand-in for a Redis server that
/// speaks the subset of the stream commands the consumer and the producer
/// send, with Redis 7's semantics (consumer groups, pending entries lists,
/// idle times, delivery counts, claims, `MULTI`/`EXEC`), its idle times on a
/// `time_source` — a `testing::manual_clock` makes leases, backoffs and dead
/// letters testable in microseconds — and faults on demand (refused commands,
/// lost replies, lost connections).

#include <workers/clock.hpp>
#include <workers/detail/config.hpp>
#include <workers/redis/connection.hpp>
#include <workers/redis/detail/stream_id.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace redis {

/// @brief The in-memory fake of a Redis server's streams (see the file's brief).
///
/// Commands (their Redis 7 forms): `XADD key [MAXLEN [~|=] n] *|id field value…`,
/// `XLEN`, `XRANGE key start end [COUNT n]`, `DEL`, `XGROUP CREATE key group id
/// [MKSTREAM]`, `XGROUP DESTROY`, `XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
/// STREAMS key id` (`BLOCK` is ignored: the fake never blocks), `XACK`,
/// `XCLAIM key g c min-idle-ms id… [JUSTID]`, `XPENDING key g [IDLE ms] start
/// end count [consumer]`, `XINFO GROUPS key`, `MULTI`, `EXEC`, `PING`.
/// Anything else is refused with `ERR unknown command`.
///
/// Thread safety: any thread; every command runs under one lock, its reply is
/// posted to the connection's executor.
class memory_broker : public connector, public std::enable_shared_from_this<memory_broker> {
 public:
  /// @brief A broker whose idle times and IDs read `clock` (the real clocks if empty).
  static std::shared_ptr<memory_broker> create(std::shared_ptr<time_source> clock = {}) {
    return std::shared_ptr<memory_broker>(new memory_broker(std::move(clock)));
  }

  void connect(const boost::asio::any_io_executor& ex, connect_handler done) override {
    std::shared_ptr<connection> c;
    {
      std::lock_guard lock(mutex_);
      ++connects_;
      if (!refuse_connections_) {
        auto mc = std::make_shared<memory_connection>(shared_from_this(), ex);
        connections_.push_back(mc);
        c = mc;
      }
    }
    boost::asio::post(ex, [done = std::move(done), c = std::move(c)]() mutable {
      if (c)
        done(std::move(c), {});
      else
        done(nullptr, "memory: connection refused");
    });
  }
  std::string address() const override { return "memory"; }

  /// @name Faults
  /// @{
  /// @brief The next `times` commands named `command` (any case) are refused
  /// with the error reply `error` (e.g. `"OOM command not allowed"`) and not applied.
  void refuse(std::string command, std::string error, int times = 1) {
    std::lock_guard lock(mutex_);
    refusals_.push_back({upper(std::move(command)), std::move(error), times});
  }
  /// @brief The next `n` commands (named `command`, if not empty) are
  /// applied, then their connection is lost before their replies come: they
  /// and every command after them on that connection complete with no reply.
  void lose_replies(int n, std::string command = {}) {
    std::lock_guard lock(mutex_);
    lose_replies_ = n;
    lose_command_ = upper(std::move(command));
  }
  /// @brief Every open connection is lost now.
  void drop_connections() {
    std::lock_guard lock(mutex_);
    for (auto& w : connections_)
      if (auto c = w.lock()) c->lost_ = true;
    connections_.clear();
  }
  /// @brief While true, `connect` fails.
  void refuse_connections(bool refuse) {
    std::lock_guard lock(mutex_);
    refuse_connections_ = refuse;
  }
  /// @}

  /// @name Inspection (for tests)
  /// @{
  /// @brief One entry: its ID and fields.
  struct entry {
    std::string id;        ///< its stream ID
    redis::fields fields;  ///< its fields, in order
  };
  /// @brief The entries of `stream`, in order.
  std::vector<entry> entries(const std::string& stream) {
    std::lock_guard lock(mutex_);
    std::vector<entry> out;
    if (auto it = streams_.find(stream); it != streams_.end())
      for (auto& [id, f] : it->second.entries) out.push_back({id.str(), f});
    return out;
  }
  /// @brief One pending entry of a group.
  struct pending_entry {
    std::string id;                 ///< its stream ID
    std::string consumer;           ///< the consumer that holds it
    std::uint64_t deliveries = 0;   ///< its delivery count
    steady_clock::duration idle{};  ///< since its last delivery
  };
  /// @brief The pending entries list of `group` on `stream`, in ID order.
  std::vector<pending_entry> pending(const std::string& stream, const std::string& group) {
    std::lock_guard lock(mutex_);
    std::vector<pending_entry> out;
    if (auto* g = find_group(stream, group))
      for (auto& [id, p] : g->pel)
        out.push_back({id.str(), p.consumer, p.deliveries, now() - p.delivered});
    return out;
  }
  /// @brief How many commands named `command` were applied (any case), and
  /// how many connections were asked for.
  std::uint64_t count(const std::string& command) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(upper(command));
    return it == counts_.end() ? 0 : it->second;
  }
  /// @brief How many times `connect` was called.
  std::uint64_t connects() {
    std::lock_guard lock(mutex_);
    return connects_;
  }
  /// @}

 private:
  struct pel_entry {
    std::string consumer;
    steady_clock::time_point delivered;
    std::uint64_t deliveries = 0;
  };
  struct group {
    detail::stream_id last_delivered;
    std::uint64_t entries_read = 0;
    std::map<detail::stream_id, pel_entry> pel;
    std::set<std::string> consumers;
  };
  struct stream {
    std::map<detail::stream_id, fields> entries;
    detail::stream_id last;
    std::uint64_t added = 0;
    std::map<std::string, group> groups;
  };
  struct refusal {
    std::string command;
    std::string error;
    int times;
  };

  class memory_connection final : public connection {
   public:
    memory_connection(std::shared_ptr<memory_broker> broker, boost::asio::any_io_executor ex)
        : broker_(std::move(broker)), ex_(std::move(ex)) {}
    void send(const redis::command& c, command_handler done) override {
      std::optional<reply> answer;
      if (!closed_) answer = broker_->run(*this, c.strings());
      boost::asio::post(ex_, [done = std::move(done), answer = std::move(answer)]() mutable {
        done(std::move(answer));
      });
    }
    bool connected() const noexcept override { return !closed_ && !lost_; }
    void close() noexcept override { closed_ = true; }

    std::shared_ptr<memory_broker> broker_;
    boost::asio::any_io_executor ex_;
    bool closed_ = false;
    std::atomic<bool> lost_{false};  // set under the broker's lock
    std::optional<std::vector<std::vector<std::string>>> multi_;
    bool multi_failed_ = false;
  };

  explicit memory_broker(std::shared_ptr<time_source> clock) : clock_(std::move(clock)) {}

  static std::string upper(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  }
  steady_clock::time_point now() const {
    return clock_ ? clock_->steady_now() : steady_clock::now();
  }
  std::uint64_t wall_ms() const {
    auto t = clock_ ? clock_->wall_now() : clock::now();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
  }
  static std::uint64_t number(const std::string& s) {
    std::uint64_t n = 0;
    std::from_chars(s.data(), s.data() + s.size(), n);
    return n;
  }
  group* find_group(const std::string& s, const std::string& g) {
    auto it = streams_.find(s);
    if (it == streams_.end()) return nullptr;
    auto git = it->second.groups.find(g);
    return git == it->second.groups.end() ? nullptr : &git->second;
  }
  static reply entry_reply(const detail::stream_id& id, const fields& f) {
    std::vector<reply> kv;
    for (auto& [k, v] : f) {
      kv.push_back(reply::string(k));
      kv.push_back(reply::string(v));
    }
    return reply::list({reply::string(id.str()), reply::list(std::move(kv))});
  }
  static reply nogroup(const std::string& s, const std::string& g, const std::string& cmd) {
    return reply::error("NOGROUP No such key '" + s + "' or consumer group '" + g + "' in " + cmd);
  }

  // Runs one command; none if the connection is lost.
  std::optional<reply> run(memory_connection& c, std::vector<std::string> args) {
    std::lock_guard lock(mutex_);
    if (c.lost_) return std::nullopt;
    if (args.empty()) return reply::error("ERR empty command");
    auto name = upper(args[0]);
    for (auto it = refusals_.begin(); it != refusals_.end(); ++it) {
      if (it->command != name) continue;
      auto r = reply::error(it->error);
      if (--it->times == 0) refusals_.erase(it);
      // Refused while queued in a transaction: EXEC then discards it (Redis 2.6.5+).
      if (c.multi_) c.multi_failed_ = true;
      return r;
    }
    reply r;
    if (name == "MULTI" || name == "EXEC") ++counts_[name];
    if (name == "MULTI") {
      c.multi_.emplace();
      r = reply::status("OK");
    } else if (name == "EXEC") {
      if (!c.multi_) return reply::error("ERR EXEC without MULTI");
      if (std::exchange(c.multi_failed_, false)) {
        c.multi_.reset();
        return reply::error("EXECABORT Transaction discarded because of previous errors.");
      }
      std::vector<reply> results;
      for (auto& queued : *c.multi_) results.push_back(apply(upper(queued[0]), queued));
      c.multi_.reset();
      r = reply::list(std::move(results));
    } else if (c.multi_) {
      c.multi_->push_back(std::move(args));
      r = reply::status("QUEUED");
    } else {
      r = apply(name, args);
    }
    if (lose_replies_ > 0 && (lose_command_.empty() || lose_command_ == name)) {
      --lose_replies_;
      c.lost_ = true;
      return std::nullopt;
    }
    return r;
  }

  reply apply(const std::string& name, const std::vector<std::string>& a) {
    ++counts_[name];
    if (name == "PING") return reply::status("PONG");
    if (name == "XADD") return xadd(a);
    if (name == "XLEN") {
      auto it = streams_.find(a.at(1));
      return reply::number(it == streams_.end() ? 0 : std::int64_t(it->second.entries.size()));
    }
    if (name == "DEL") {
      std::int64_t n = 0;
      for (std::size_t i = 1; i < a.size(); ++i) n += std::int64_t(streams_.erase(a[i]));
      return reply::number(n);
    }
    if (name == "XRANGE") return xrange(a);
    if (name == "XGROUP") return xgroup(a);
    if (name == "XREADGROUP") return xreadgroup(a);
    if (name == "XACK") return xack(a);
    if (name == "XCLAIM") return xclaim(a);
    if (name == "XPENDING") return xpending(a);
    if (name == "XINFO") return xinfo(a);
    return reply::error("ERR unknown command '" + a[0] + "'");
  }

  reply xadd(const std::vector<std::string>& a) {
    if (a.size() < 5) return reply::error("ERR wrong number of arguments for 'xadd' command");
    auto& s = streams_[a[1]];
    std::size_t i = 2;
    std::optional<std::uint64_t> maxlen;
    if (upper(a[i]) == "MAXLEN") {
      ++i;
      if (a[i] == "~" || a[i] == "=") ++i;
      maxlen = number(a[i++]);
    }
    detail::stream_id id;
    if (a[i] == "*") {
      auto ms = std::max(wall_ms(), s.last.ms);
      id = ms == s.last.ms && s.added ? detail::stream_id{ms, s.last.seq + 1}
                                      : detail::stream_id{ms, 0};
    } else {
      auto given = detail::stream_id::parse(a[i]);
      if (!given || (s.added && *given <= s.last))
        return reply::error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item");
      id = *given;
    }
    ++i;
    if ((a.size() - i) % 2 != 0 || a.size() == i)
      return reply::error("ERR wrong number of arguments for 'xadd' command");
    fields f;
    for (; i + 1 < a.size(); i += 2) f.emplace_back(a[i], a[i + 1]);
    s.entries.emplace(id, std::move(f));
    s.last = id;
    ++s.added;
    if (maxlen)
      while (s.entries.size() > *maxlen) s.entries.erase(s.entries.begin());
    return reply::string(id.str());
  }

  reply xrange(const std::vector<std::string>& a) {
    std::vector<reply> out;
    auto it = streams_.find(a.at(1));
    if (it == streams_.end()) return reply::list({});
    auto from = detail::stream_id::parse(a.at(2));
    auto to = detail::stream_id::parse(a.at(3), true);
    if (!from || !to)
      return reply::error("ERR Invalid stream ID specified as stream command argument");
    std::size_t count = a.size() > 5 ? number(a[5]) : SIZE_MAX;
    for (auto e = it->second.entries.lower_bound(*from);
         e != it->second.entries.end() && e->first <= *to && out.size() < count; ++e)
      out.push_back(entry_reply(e->first, e->second));
    return reply::list(std::move(out));
  }

  reply xgroup(const std::vector<std::string>& a) {
    auto sub = upper(a.at(1));
    if (sub == "CREATE") {
      auto it = streams_.find(a.at(2));
      bool mkstream = a.size() > 5 && upper(a[5]) == "MKSTREAM";
      if (it == streams_.end()) {
        if (!mkstream)
          return reply::error(
              "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
              "want to use the MKSTREAM option to create an empty stream automatically.");
        it = streams_.emplace(a[2], stream{}).first;
      }
      if (it->second.groups.count(a.at(3)))
        return reply::error("BUSYGROUP Consumer Group name already exists");
      group g;
      g.last_delivered = a.at(4) == "$"
                             ? it->second.last
                             : detail::stream_id::parse(a[4]).value_or(detail::stream_id{});
      it->second.groups.emplace(a[3], std::move(g));
      return reply::status("OK");
    }
    if (sub == "DESTROY") {
      auto it = streams_.find(a.at(2));
      return reply::number(it == streams_.end() ? 0
                                                : std::int64_t(it->second.groups.erase(a.at(3))));
    }
    return reply::error("ERR unknown XGROUP subcommand '" + a[1] + "'");
  }

  reply xreadgroup(const std::vector<std::string>& a) {
    // XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key id
    if (a.size() < 7) return reply::error("ERR wrong number of arguments for 'xreadgroup' command");
    const auto& gname = a[2];
    const auto& consumer = a[3];
    std::size_t count = SIZE_MAX;
    std::size_t i = 4;
    for (; i < a.size() && upper(a[i]) != "STREAMS"; ++i) {
      if (upper(a[i]) == "COUNT")
        count = number(a.at(++i));
      else if (upper(a[i]) == "BLOCK")
        ++i;
    }
    const auto& key = a.at(i + 1);
    const auto& from = a.at(i + 2);
    auto* g = find_group(key, gname);
    if (!g) return nogroup(key, gname, "XREADGROUP with GROUP option");
    auto& s = streams_[key];
    g->consumers.insert(consumer);
    std::vector<reply> entries;
    if (from == ">") {
      for (auto e = s.entries.upper_bound(g->last_delivered);
           e != s.entries.end() && entries.size() < count; ++e) {
        g->last_delivered = e->first;
        ++g->entries_read;
        g->pel[e->first] = pel_entry{consumer, now(), 1};
        entries.push_back(entry_reply(e->first, e->second));
      }
      if (entries.empty()) return reply{};  // nil: nothing new (and no BLOCK)
    } else {
      auto after = detail::stream_id::parse(from);
      if (!after) return reply::error("ERR Invalid stream ID specified as stream command argument");
      for (auto p = g->pel.upper_bound(*after); p != g->pel.end() && entries.size() < count; ++p) {
        if (p->second.consumer != consumer) continue;
        auto e = s.entries.find(p->first);
        if (e == s.entries.end()) {
          entries.push_back(reply::list({reply::string(p->first.str()), reply{}}));
          continue;
        }
        p->second.delivered = now();
        ++p->second.deliveries;
        entries.push_back(entry_reply(e->first, e->second));
      }
    }
    return reply::list({reply::list({reply::string(key), reply::list(std::move(entries))})});
  }

  reply xack(const std::vector<std::string>& a) {
    auto* g = find_group(a.at(1), a.at(2));
    if (!g) return reply::number(0);
    std::int64_t n = 0;
    for (std::size_t i = 3; i < a.size(); ++i)
      if (auto id = detail::stream_id::parse(a[i])) n += std::int64_t(g->pel.erase(*id));
    return reply::number(n);
  }

  reply xclaim(const std::vector<std::string>& a) {
    // XCLAIM key g c min-idle id… [JUSTID]
    auto* g = find_group(a.at(1), a.at(2));
    if (!g) return nogroup(a[1], a[2], "XCLAIM");
    auto& s = streams_[a[1]];
    const auto& consumer = a.at(3);
    auto min_idle = std::chrono::milliseconds(number(a.at(4)));
    bool justid = upper(a.back()) == "JUSTID";
    std::vector<reply> out;
    for (std::size_t i = 5; i < a.size() - (justid ? 1 : 0); ++i) {
      auto id = detail::stream_id::parse(a[i]);
      if (!id) return reply::error("ERR Invalid stream ID specified as stream command argument");
      auto p = g->pel.find(*id);
      if (p == g->pel.end() || now() - p->second.delivered < min_idle) continue;
      auto e = s.entries.find(*id);
      if (e == s.entries.end()) {  // deleted meanwhile: Redis 7 drops it from the list
        g->pel.erase(p);
        continue;
      }
      g->consumers.insert(consumer);
      p->second.consumer = consumer;
      p->second.delivered = now();
      if (!justid) ++p->second.deliveries;
      out.push_back(justid ? reply::string(id->str()) : entry_reply(e->first, e->second));
    }
    return reply::list(std::move(out));
  }

  reply xpending(const std::vector<std::string>& a) {
    // XPENDING key g [IDLE ms] start end count [consumer]
    auto* g = find_group(a.at(1), a.at(2));
    if (!g) return nogroup(a[1], a[2], "XPENDING");
    std::size_t i = 3;
    steady_clock::duration min_idle{};
    if (a.size() > i && upper(a[i]) == "IDLE") {
      min_idle = std::chrono::milliseconds(number(a.at(i + 1)));
      i += 2;
    }
    // "(id": exclusive (Redis 6.2).
    bool exclusive = !a.at(i).empty() && a[i][0] == '(';
    auto from = detail::stream_id::parse(std::string_view(a[i]).substr(exclusive ? 1 : 0));
    if (from && exclusive) ++from->seq;
    auto to = detail::stream_id::parse(a.at(i + 1), true);
    auto count = number(a.at(i + 2));
    const std::string* consumer = a.size() > i + 3 ? &a[i + 3] : nullptr;
    if (!from || !to)
      return reply::error("ERR Invalid stream ID specified as stream command argument");
    std::vector<reply> out;
    for (auto p = g->pel.lower_bound(*from);
         p != g->pel.end() && p->first <= *to && out.size() < count; ++p) {
      auto idle = now() - p->second.delivered;
      if (idle < min_idle || (consumer && p->second.consumer != *consumer)) continue;
      out.push_back(reply::list(
          {reply::string(p->first.str()), reply::string(p->second.consumer),
           reply::number(std::chrono::duration_cast<std::chrono::milliseconds>(idle).count()),
           reply::number(std::int64_t(p->second.deliveries))}));
    }
    return reply::list(std::move(out));
  }

  reply xinfo(const std::vector<std::string>& a) {
    if (upper(a.at(1)) != "GROUPS") return reply::error("ERR unknown XINFO subcommand");
    auto it = streams_.find(a.at(2));
    if (it == streams_.end()) return reply::error("ERR no such key");
    std::vector<reply> out;
    for (auto& [name, g] : it->second.groups) {
      auto lag = std::int64_t(it->second.added - std::min(it->second.added, g.entries_read));
      out.push_back(reply::list(
          {reply::string("name"), reply::string(name), reply::string("consumers"),
           reply::number(std::int64_t(g.consumers.size())), reply::string("pending"),
           reply::number(std::int64_t(g.pel.size())), reply::string("last-delivered-id"),
           reply::string(g.last_delivered.str()), reply::string("entries-read"),
           reply::number(std::int64_t(g.entries_read)), reply::string("lag"), reply::number(lag)}));
    }
    return reply::list(std::move(out));
  }

  std::shared_ptr<time_source> clock_;
  std::mutex mutex_;
  std::map<std::string, stream> streams_;
  std::vector<std::weak_ptr<memory_connection>> connections_;
  std::deque<refusal> refusals_;
  std::map<std::string, std::uint64_t> counts_;
  std::uint64_t connects_ = 0;
  int lose_replies_ = 0;
  std::string lose_command_;
  bool refuse_connections_ = false;
};

}  // namespace redis
WORKERS_END_NAMESPACE
