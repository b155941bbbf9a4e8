#pragma once

// The machinery of `redis::consume` (consumer.hpp): one object per consumed
// worker, on the worker's strand. It keeps the deliveries it holds (read, not
// yet settled) by stream ID, reads while there is room, hands each entry to
// the worker as a push-and-wait, and settles each delivery once from the
// reply (outcome.hpp): XACK, a retry after a backoff, or a dead letter. A
// lost connection is followed by a reconnect and a pass over this consumer's
// pending list, which settles what was sent without an answer exactly once.
//
// Its callbacks hold it weakly; what keeps it alive is a wait on a timer that
// never expires (it goes with the execution context) until it finishes, and
// the `consumer` handles.

#include <workers/clock.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/clock_seam.hpp>
#include <workers/detail/config.hpp>
#include <workers/lifecycle_operations.hpp>
#include <workers/message_error.hpp>
#include <workers/queue_operations.hpp>
#include <workers/redis/codec.hpp>
#include <workers/redis/connection.hpp>
#include <workers/redis/consumer_options.hpp>
#include <workers/redis/detail/outcome.hpp>
#include <workers/redis/detail/stream_id.hpp>
#include <workers/time_source.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE
namespace redis {
namespace detail {

// One stream entry as a reply gives it: [id, [k, v, …]] (fields nil once deleted).
struct entry {
  stream_id id;
  std::string text;  // the ID as Redis wrote it
  std::optional<fields> values;
};

// Moves the entry out of `r`.
inline std::optional<entry> entry_of(reply& r) {
  if (r.kind != reply::type::array || r.elements.size() != 2) return std::nullopt;
  auto id = stream_id::parse(r.elements[0].str);
  if (!id) return std::nullopt;
  entry e{*id, std::move(r.elements[0].str), std::nullopt};
  auto& kv = r.elements[1];
  if (kv.kind == reply::type::array) {
    e.values.emplace();
    e.values->reserve(kv.elements.size() / 2);
    for (std::size_t i = 0; i + 1 < kv.elements.size(); i += 2)
      e.values->emplace_back(std::move(kv.elements[i].str), std::move(kv.elements[i + 1].str));
  }
  return e;
}

// The time an ID encodes (when its entry was added).
inline clock::time_point time_of(const stream_id& id) {
  return clock::time_point(
      std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(id.ms)));
}

inline std::string millis(steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

struct stream_id_hash {
  std::size_t operator()(const stream_id& id) const noexcept {
    return std::size_t(id.ms * 0x9E3779B97F4A7C15ull ^ id.seq);
  }
};

inline command& push_id(command& c, const stream_id& id) {
  char buf[48];
  return c.push(std::string_view(buf, std::size_t(id.write(buf) - buf)));
}

template <class Worker, class Codec>
class consumer_core final : public std::enable_shared_from_this<consumer_core<Worker, Codec>> {
 public:
  consumer_core(Worker w, std::shared_ptr<connector> broker, consumer_options o, Codec codec)
      : w_(std::move(w)),
        ex_(w_.get_executor()),
        broker_(std::move(broker)),
        o_(std::move(o)),
        codec_(std::move(codec)),
        life_(ex_) {
    if (o_.stream.empty() || o_.group.empty())
      throw std::invalid_argument("redis::consume: worker " + w_.full_name() +
                                  ": the stream and the group are required");
    if (o_.max_in_flight == 0 || o_.batch == 0 || o_.max_deliveries == 0)
      throw std::invalid_argument("redis::consume: worker " + w_.full_name() +
                                  ": batch, max_in_flight and max_deliveries must be at least 1");
    if (o_.consumer.empty()) o_.consumer = w_.full_name();
    auto& core = workers::detail::access::core(w_);
    if (!o_.clock) o_.clock = core.config().clock;
    if (o_.dead_letter_stream.empty()) o_.dead_letter_stream = o_.stream + ":dead";
    random_.seed(static_cast<std::uint32_t>(std::hash<std::string>{}(o_.consumer)));
  }

  // The counters the `consumer` handles read: apart from this object, which
  // holds I/O objects of the context and goes with it.
  const std::shared_ptr<consumer::state>& shared_state() const noexcept { return st_; }

  void start() {
    boost::asio::post(ex_, [self = this->shared_from_this()] {
      // Alive until it finishes, or until the context is destroyed (the
      // wait's handler goes with it).
      self->life_.expires_at(boost::asio::steady_timer::time_point::max());
      self->life_.async_wait([self](const boost::system::error_code&) {});
      wait_for_completion(self->w_, [weak = self->weak()](error_code) {
        if (auto s = weak.lock()) s->stop();
      });
      self->poll_timer_ = self->make_timer();
      self->retry_timer_ = self->make_timer();
      self->lease_timer_ = self->make_timer();
      self->backoff_timer_ = self->make_timer();
      self->connect();
      self->arm_lease();
    });
  }

 private:
  enum class held_state { handling, waiting, queued, settling, unconfirmed };
  enum class settle_kind { ack, dead };
  // A delivery held here: in the worker (handling), waiting for its retry,
  // its settlement decided (queued), sent (settling), or sent on a connection
  // lost before the answer (unconfirmed: the pending list tells).
  struct held {
    std::string text;  // the ID, as written in commands
    fields values;
    std::uint64_t count = 1;
    clock::time_point first_delivered;
    steady_clock::time_point handed{};  // when handed to the worker, last
    held_state state = held_state::handling;
    settle_kind settle = settle_kind::ack;
    std::string reason;
  };
  // Open addressing: no node per delivery (references to a `held` stay
  // valid only until the next insertion).
  using held_map = boost::unordered_flat_map<stream_id, held, stream_id_hash>;
  using id_counts = std::vector<std::pair<stream_id, std::uint64_t>>;

  std::weak_ptr<consumer_core> weak() { return this->weak_from_this(); }
  steady_clock::time_point now() const {
    return o_.clock ? o_.clock->steady_now() : steady_clock::now();
  }
  clock::time_point wall_now() const { return o_.clock ? o_.clock->wall_now() : clock::now(); }
  std::unique_ptr<time_source::timer> make_timer() {
    if (o_.clock) return o_.clock->make_timer(ex_);
    return std::make_unique<workers::detail::asio_timer>(ex_);
  }
  template <class F>
  void after(time_source::timer& t, steady_clock::duration d, F f) {
    t.wait_until(now() + d, [weak = weak(), f = std::move(f)] {
      if (auto s = weak.lock()) f(*s);
    });
  }

  // The user's event callback runs inside hiredis' read callback: what it
  // throws stops there (it is documented as not throwing).
  void emit(consumer_event::kind k, const stream_id* id = nullptr, std::uint64_t count = 0,
            std::string_view text = {}, steady_clock::duration delay = {}) noexcept {
    if (!o_.on_event) return;
    try {
      o_.on_event(
          consumer_event{k, id ? id->str() : std::string(), count, std::string(text), delay});
    } catch (...) {
    }
  }

  // A codec that throws fails the decoding (its message is the reason): an
  // exception must not cross hiredis' C frames.
  std::optional<typename Worker::definition::request_variant> decode(const fields& f,
                                                                     std::string& why) {
    try {
      return codec_.decode(f, why);
    } catch (const std::exception& e) {
      why = std::string("the codec threw: ") + e.what();
    } catch (...) {
      why = "the codec threw";
    }
    return std::nullopt;
  }
  void count_in_flight() { st_->in_flight.store(held_.size(), std::memory_order_relaxed); }

  // Sends `c` on the current connection; `f(self, reply)` on its reply (`f`
  // may move strings out of it); a lost connection is handled here. A reply
  // that comes after its connection was found lost is dropped (the pending
  // list tells what it would have said), unless `deliveries`: entries read
  // or claimed are this consumer's deliveries all the same (dropped, they
  // would come again with their count raised).
  template <class F>
  void send(const command& c, F f, bool deliveries = false) {
    auto gen = gen_;
    conn_->send(c, [weak = weak(), gen, deliveries, f = std::move(f)](std::optional<reply> r) {
      auto s = weak.lock();
      if (!s) return;
      if (!r) return s->lost(gen);
      if ((gen != s->gen_ || !s->conn_) && !deliveries) return;
      f(*s, *r);
    });
  }
  template <class F>
  void send_deliveries(const command& c, F f) {
    send(c, std::move(f), true);
  }
  command head(std::string_view name) const { return command{name, o_.stream, o_.group}; }

  // Connected? A connection found lost here is handled as lost (a reconnect).
  bool live() {
    if (conn_ && !conn_->connected()) lost(gen_);
    return conn_ != nullptr;
  }

  // A command Redis refused: an error naming the stream, the group and the
  // command, then a pause of the reconnect backoff (never a busy loop).
  void refused(std::string_view what, const reply& r) {
    auto text = fmt::format("redis refused {} on stream '{}', group '{}' (consumer '{}'): {}", what,
                            o_.stream, o_.group, o_.consumer, r.str);
    st_->set_error(text);
    ++st_->refused_commands;
    emit(consumer_event::kind::refused, nullptr, 0, text);
    if (error_code_of(r) == "NOGROUP") group_ready_ = false;
    pause();
  }

  // Waits the backoff, then goes on (a connection, the group, the flush, the reads).
  void pause() {
    if (paused_) return;
    paused_ = true;
    after(*backoff_timer_, next_backoff(), [](consumer_core& s) {
      s.paused_ = false;
      s.resume();
    });
  }
  steady_clock::duration next_backoff() {
    auto d = o_.reconnect.min;
    for (unsigned i = 0; i < attempt_ && d < o_.reconnect.max; ++i) d *= 2;
    ++attempt_;
    return std::min(d, o_.reconnect.max);
  }

  void resume() {
    if (finished_) return;
    if (!conn_) return connect();
    if (!group_ready_) return create_group();
    flush();
    pump();
  }

  void connect() {
    if (connecting_ || finished_) return;
    connecting_ = true;
    broker_->connect(ex_, [weak = weak()](std::shared_ptr<connection> c, std::string why) {
      auto s = weak.lock();
      if (!s || s->finished_) {
        if (c) c->close();
        if (s) s->connecting_ = false;
        return;
      }
      s->connecting_ = false;
      if (!c) {
        s->st_->set_error(
            fmt::format("redis: cannot connect consumer '{}' of stream '{}', group '{}': {}",
                        s->o_.consumer, s->o_.stream, s->o_.group, why));
        s->emit(consumer_event::kind::connection_lost, nullptr, 0, why);
        return s->pause();
      }
      s->conn_ = std::move(c);
      ++s->gen_;
      ++s->st_->connections;
      s->emit(consumer_event::kind::connected, nullptr, 0, s->broker_->address());
      s->create_group();
    });
  }

  void lost(std::uint64_t gen) {
    if (gen != gen_ || !conn_) return;
    conn_->close();
    conn_.reset();
    busy_ = acking_ = group_ready_ = false;
    // What this connection delivered but never said, and what it settled
    // without an answer, are found again in the pending list.
    recovering_ = true;
    wait_room_ = false;
    recover_cursor_ = "-";
    seen_.clear();
    for (auto& [id, h] : held_)
      if (h.state == held_state::settling) h.state = held_state::unconfirmed;
    ++st_->lost_connections;
    emit(consumer_event::kind::connection_lost, nullptr, 0, broker_->address());
    pause();
  }

  void create_group() {
    if (!live()) return;
    send({"XGROUP", "CREATE", o_.stream, o_.group, o_.group_start, "MKSTREAM"},
         [](consumer_core& s, reply& r) {
           if (r.is_error() && error_code_of(r) != "BUSYGROUP")
             return s.refused("XGROUP CREATE", r);
           s.group_ready_ = true;
           s.attempt_ = 0;
           s.flush();
           s.pump();
         });
  }

  std::size_t room() const {
    return held_.size() < o_.max_in_flight ? o_.max_in_flight - held_.size() : 0;
  }

  // The reads: the own pending list first (at start and after a lost
  // connection), then claims of idle deliveries when due, then new entries.
  // A read waits for room for half a batch (or an empty window): one read
  // per freed slot would fetch entries one by one.
  void pump() {
    if (stopping_ || !live() || !group_ready_ || busy_ || paused_) return;
    if (recovering_) {
      if (!wait_room_ || room() > 0) recover();
      return;
    }
    auto n = room();
    if (n == 0 || (n < std::min(o_.batch, o_.max_in_flight) / 2 && !held_.empty())) return;
    if (claim_due_) return claim(n);
    if (polling_) return;
    read_new(std::min(o_.batch, n));
  }

  void read_new(std::size_t n) {
    busy_ = true;
    command c{"XREADGROUP", "GROUP", o_.group, o_.consumer, "COUNT"};
    c.push_number(n).push("STREAMS").push(o_.stream).push(">");
    send_deliveries(c, [](consumer_core& s, reply& r) {
      s.busy_ = false;
      if (r.is_error()) return s.refused("XREADGROUP", r);
      std::size_t got = 0;
      if (!r.is_nil() && !r.elements.empty() && r.elements[0].elements.size() == 2) {
        auto now = s.wall_now();
        for (auto& e : r.elements[0].elements[1].elements)
          if (auto en = entry_of(e)) {
            ++got;
            s.deliver(std::move(*en), 1, now);
          }
      }
      if (got == 0) {
        s.polling_ = true;
        s.after(*s.poll_timer_, s.o_.poll, [](consumer_core& c) {
          c.polling_ = false;
          c.pump();
        });
      }
      s.pump();
    });
  }

  // Pages through this consumer's pending list: settlements whose answer was
  // lost are confirmed (gone from the list) or sent again (still there);
  // deliveries no one here holds are taken again (`XCLAIM … 0`, count + 1).
  void recover() {
    busy_ = true;
    command c{"XPENDING", o_.stream, o_.group, recover_cursor_, "+"};
    c.push_number(o_.batch).push(o_.consumer);
    send(c, [](consumer_core& s, reply& r) {
      s.busy_ = false;
      if (r.is_error()) return s.refused("XPENDING", r);
      id_counts take;
      bool full = false;
      for (const auto& p : r.elements) {
        if (p.elements.size() < 4) continue;
        auto id = stream_id::parse(p.elements[0].str);
        if (!id) continue;
        auto it = s.held_.find(*id);
        if (it == s.held_.end() && take.size() == s.room()) full = true;  // later, with room
        if (full) continue;
        s.seen_.insert(*id);
        s.recover_cursor_ = "(" + p.elements[0].str;
        if (it == s.held_.end())
          take.emplace_back(*id, std::uint64_t(p.elements[3].integer));
        else if (it->second.state == held_state::unconfirmed)
          s.requeue(it);
      }
      s.wait_room_ = full;
      if (!full && r.elements.size() < s.o_.batch) s.end_recovery();
      if (!take.empty())
        s.claim_ids(take, "0", {});
      else
        s.pump();
      s.flush();
    });
  }

  void end_recovery() {
    recovering_ = false;
    recover_cursor_ = "-";
    // Settled while the answer was lost: no longer pending.
    std::vector<stream_id> gone;
    for (auto& [id, h] : held_)
      if (h.state == held_state::unconfirmed && !seen_.count(id)) gone.push_back(id);
    for (auto& id : gone) {
      auto it = held_.find(id);
      settled(id, it->second);
      held_.erase(it);
    }
    seen_.clear();
    count_in_flight();
  }

  // Claims deliveries of any consumer idle past the lease.
  void claim(std::size_t n) {
    claim_due_ = false;
    busy_ = true;
    command c{"XPENDING", o_.stream, o_.group, "IDLE", millis(o_.lease), "-", "+"};
    c.push_number(n);
    send(c, [](consumer_core& s, reply& r) {
      s.busy_ = false;
      if (r.is_error()) return s.refused("XPENDING", r);
      id_counts take;
      std::string from;
      for (const auto& p : r.elements) {
        if (p.elements.size() < 4) continue;
        auto id = stream_id::parse(p.elements[0].str);
        if (!id || s.held_.count(*id)) continue;
        take.emplace_back(*id, std::uint64_t(p.elements[3].integer));
        if (from.empty()) from = p.elements[1].str;
      }
      if (take.empty()) return s.pump();
      s.claim_ids(take, millis(s.o_.lease), std::move(from));
    });
  }

  // XCLAIM of `ids` (with their known counts) at `min_idle` ms; `from`: the
  // consumer they are claimed from (none: this one's own).
  void claim_ids(const id_counts& ids, std::string_view min_idle, std::string from) {
    command c{"XCLAIM", o_.stream, o_.group, o_.consumer, min_idle};
    std::map<stream_id, std::uint64_t> counts;
    for (auto& [id, n] : ids) {
      push_id(c, id);
      counts[id] = n;
    }
    busy_ = true;
    send_deliveries(
        c, [counts = std::move(counts), from = std::move(from)](consumer_core& s, reply& r) {
          s.busy_ = false;
          if (r.is_error()) return s.refused("XCLAIM", r);
          for (auto& e : r.elements)
            if (auto en = entry_of(e)) {
              auto known = counts.find(en->id);
              auto n = known == counts.end() ? 1 : known->second + 1;
              if (!from.empty()) {
                ++s.st_->claimed;
                s.emit(consumer_event::kind::claimed, &en->id, n, from);
              }
              auto first = time_of(en->id);
              s.deliver(std::move(*en), n, first);
            }
          s.pump();
        });
  }

  // Every third of the lease: the deliveries held here are touched (their
  // idle time back to 0, `XCLAIM … JUSTID`), and claims are due.
  void arm_lease() {
    after(*lease_timer_, o_.lease / 3, [](consumer_core& s) {
      if (s.finished_) return;
      s.extend();
      s.claim_due_ = true;
      s.pump();
      s.arm_lease();
    });
  }
  // A handler in hand past `max_hold` (the watchdog's stuck) loses its lease.
  void extend() {
    if (!live() || !group_ready_) return;
    command c{"XCLAIM", o_.stream, o_.group, o_.consumer, "0"};
    std::size_t n = 0;
    auto t = now();
    for (auto& [id, h] : held_) {
      bool stuck = h.state == held_state::handling && o_.max_hold && t - h.handed > *o_.max_hold;
      if ((h.state == held_state::handling || h.state == held_state::waiting) && !stuck) {
        push_id(c, id);
        ++n;
      }
    }
    if (n > 0) {
      c.push("JUSTID");
      send(c, [](consumer_core& s, reply& r) {
        if (r.is_error()) s.refused("XCLAIM JUSTID", r);
      });
    }
    // The group's lag and pending count, for the stats.
    send({"XINFO", "GROUPS", o_.stream}, [](consumer_core& s, reply& r) {
      for (const auto& g : r.elements) {
        bool ours = false;
        std::int64_t lag = 0, pending = 0;
        for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
          const auto& key = g.elements[i].str;
          const auto& value = g.elements[i + 1];
          if (key == "name") ours = value.str == s.o_.group;
          if (key == "lag") lag = value.integer;
          if (key == "pending") pending = value.integer;
        }
        if (ours) {
          s.st_->lag.store(std::uint64_t(std::max<std::int64_t>(lag, 0)));
          s.st_->pending.store(std::uint64_t(std::max<std::int64_t>(pending, 0)));
        }
      }
    });
  }

  // Hands an entry to the worker, or settles it at once (deleted, delivered
  // too often, undecodable).
  void deliver(entry e, std::uint64_t n, clock::time_point first) {
    if (stopping_) return;  // stays pending
    auto [it, fresh] = held_.try_emplace(e.id);
    auto& h = it->second;
    if (!fresh && h.state != held_state::waiting) return;  // already in hand
    if (fresh) {
      h.first_delivered = first;
      h.text = std::move(e.text);
    }
    h.count = n;
    h.state = held_state::handling;
    count_in_flight();
    if (!e.values) {  // deleted from the stream: nothing to handle
      h.values.clear();
      return ack(it);
    }
    h.values = std::move(*e.values);
    if (n > o_.max_deliveries)
      return dead(it, fmt::format("delivered {} times, more than max_deliveries ({})", n,
                                  o_.max_deliveries));
    std::string why;
    auto request = decode(h.values, why);
    if (!request) {
      ++st_->decode_failed;
      emit(consumer_event::kind::decode_failed, &e.id, n, why);
      return dead(it, "cannot decode: " + why);
    }
    ++st_->delivered;
    h.handed = now();
    emit(consumer_event::kind::delivered, &e.id, n);
    std::visit(
        [&](auto& r) {
          using R = std::decay_t<decltype(r)>;
          if constexpr (has_delivery<R>) {
            r.delivery = delivery{h.text, n, h.first_delivered, {}};
            for (auto& [k, v] : h.values)
              if (k == "trace") r.delivery.trace = v;
          }
          // Answered on the worker's strand (its default), after the handler.
          push_request_and_wait(w_, std::move(r), [weak = weak(), id = e.id](reply_result<R> res) {
            if (auto s = weak.lock()) s->settle(id, outcome_of<R>(res));
          });
        },
        *request);
  }

  void settle(const stream_id& id, outcome o) {
    auto it = held_.find(id);
    if (it == held_.end()) return;
    auto& h = it->second;
    switch (o.what) {
      case outcome::handled:
        ack(it);
        break;
      case outcome::retry:
        if (h.count >= o_.max_deliveries)
          dead(it, fmt::format("{} (delivery {} of {})", o.reason, h.count, o_.max_deliveries));
        else
          retry(it, o.reason);
        break;
      case outcome::permanent:
        dead(it, std::move(o.reason));
        break;
      case outcome::closed:
        release(it);
        break;
    }
    maybe_finish();
  }

  void release(typename held_map::iterator it) {
    ++st_->released;
    emit(consumer_event::kind::released, &it->first, it->second.count);
    held_.erase(it);
    count_in_flight();
    pump();
  }

  steady_clock::duration backoff(std::uint64_t n) {
    double d = std::chrono::duration<double>(o_.retry.first).count() *
               std::pow(o_.retry.factor, double(n - 1));
    d = std::min(d, std::chrono::duration<double>(o_.retry.cap).count());
    if (o_.retry.jitter > 0) {
      std::uniform_real_distribution<double> spread(-o_.retry.jitter, o_.retry.jitter);
      d *= 1 + spread(random_);
    }
    return std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(d));
  }

  void retry(typename held_map::iterator it, std::string_view reason) {
    if (stopping_) return release(it);
    auto d = backoff(it->second.count);
    it->second.state = held_state::waiting;
    retries_.emplace(now() + d, it->first);
    ++st_->retried;
    emit(consumer_event::kind::retry_scheduled, &it->first, it->second.count, reason, d);
    arm_retry();
  }
  void arm_retry() {
    if (retries_.empty()) return;
    retry_timer_->wait_until(retries_.begin()->first, [weak = weak()] {
      if (auto s = weak.lock()) s->retry_due();
    });
  }
  // Retries due: `XCLAIM … 0` takes each again (count + 1) and hands it over.
  void retry_due() {
    if (stopping_) return;
    if (!live() || !group_ready_) {
      // Taken again once connected.
      after(*retry_timer_, o_.reconnect.min, [](consumer_core& s) { s.retry_due(); });
      return;
    }
    id_counts due;
    auto t = now();
    while (!retries_.empty() && retries_.begin()->first <= t) {
      auto id = retries_.begin()->second;
      retries_.erase(retries_.begin());
      if (auto it = held_.find(id); it != held_.end() && it->second.state == held_state::waiting)
        due.emplace_back(id, it->second.count);
    }
    arm_retry();
    if (due.empty()) return;
    command c{"XCLAIM", o_.stream, o_.group, o_.consumer, "0"};
    for (auto& [id, n] : due) push_id(c, id);
    send_deliveries(c, [due](consumer_core& s, reply& r) {
      if (r.is_error()) {
        for (auto& [id, n] : due) s.retries_.emplace(s.now(), id);
        s.refused("XCLAIM", r);
        s.arm_retry();
        return;
      }
      std::set<stream_id> back;
      for (auto& e : r.elements)
        if (auto en = entry_of(e)) {
          back.insert(en->id);
          auto it = s.held_.find(en->id);
          auto n = it == s.held_.end() ? 1 : it->second.count + 1;
          auto first = it == s.held_.end() ? time_of(en->id) : it->second.first_delivered;
          s.deliver(std::move(*en), n, first);
        }
      // Gone meanwhile (deleted, or claimed by another consumer): not ours to settle.
      for (auto& [id, n] : due)
        if (!back.count(id))
          if (auto it = s.held_.find(id); it != s.held_.end()) s.held_.erase(it);
      s.count_in_flight();
      s.maybe_finish();
      s.pump();
    });
  }

  void ack(typename held_map::iterator it) {
    it->second.state = held_state::queued;
    it->second.settle = settle_kind::ack;
    acks_.push_back(it->first);
    schedule_flush();
  }
  void dead(typename held_map::iterator it, std::string reason) {
    it->second.state = held_state::queued;
    it->second.settle = settle_kind::dead;
    it->second.reason = std::move(reason);
    deads_.push_back(it->first);
    schedule_flush();
  }
  // A settlement whose answer was lost and that is still pending: sent again.
  void requeue(typename held_map::iterator it) {
    it->second.state = held_state::queued;
    (it->second.settle == settle_kind::ack ? acks_ : deads_).push_back(it->first);
    schedule_flush();
  }

  // Settlements go out once per turn of the strand: one XACK for all the
  // acks, one transaction per dead letter.
  void schedule_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    boost::asio::post(ex_, [weak = weak()] {
      if (auto s = weak.lock()) {
        s->flush_posted_ = false;
        s->flush();
      }
    });
  }

  void flush() {
    if (!live() || !group_ready_ || paused_) return;
    // One XACK in flight at a time: acks that come meanwhile go together in
    // the next one (few commands under load, no wait when idle).
    if (!acks_.empty() && !acking_) {
      auto c = head("XACK");
      std::vector<stream_id> sent;
      for (auto& id : std::exchange(acks_, {}))
        if (auto it = held_.find(id); it != held_.end() && it->second.state == held_state::queued) {
          c.push(it->second.text);
          it->second.state = held_state::settling;
          sent.push_back(id);
        }
      if (!sent.empty()) {
        acking_ = true;
        // A lost connection: `lost` marks them unconfirmed.
        send(c, [sent = std::move(sent)](consumer_core& s, reply& r) {
          s.acking_ = false;
          s.xack_answered(sent, r);
        });
      }
    }
    for (auto& id : std::exchange(deads_, {})) {
      auto it = held_.find(id);
      if (it == held_.end() || it->second.state != held_state::queued) continue;
      auto& h = it->second;
      h.state = held_state::settling;
      command add{"XADD", o_.dead_letter_stream, "*", "source-id"};
      push_id(add, id).push("reason").push(h.reason).push("deliveries").push_number(h.count);
      add.push("consumer").push(o_.consumer);
      for (auto& [k, v] : h.values) add.push(k).push(v);
      auto ignore = [](consumer_core&, reply&) {};
      send({"MULTI"}, ignore);
      send(add, ignore);
      auto ack = head("XACK");
      send(push_id(ack, id), ignore);
      send({"EXEC"}, [id](consumer_core& s, reply& r) { s.exec_answered(id, r); });
    }
  }

  void xack_answered(const std::vector<stream_id>& ids, const reply& r) {
    if (r.is_error()) {
      for (auto& id : ids)
        if (auto it = held_.find(id);
            it != held_.end() && it->second.state == held_state::settling) {
          it->second.state = held_state::queued;
          acks_.push_back(id);
        }
      return refused("XACK", r);
    }
    for (auto& id : ids)
      if (auto it = held_.find(id); it != held_.end() && it->second.state == held_state::settling) {
        settled(id, it->second);
        held_.erase(it);
      }
    st_->ack_duplicates +=
        ids.size() -
        std::min<std::size_t>(ids.size(), std::size_t(std::max<std::int64_t>(r.integer, 0)));
    count_in_flight();
    flush();
    maybe_finish();
    pump();
  }

  void exec_answered(const stream_id& id, const reply& r) {
    const reply* failed = r.is_error() ? &r : nullptr;
    for (const auto& x : r.elements)
      if (x.is_error()) failed = &x;  // the XADD failed inside the transaction: nothing applied
    // [XADD's ID, XACK's count]; anything else applied nothing we can count on.
    if (failed || r.kind != reply::type::array || r.elements.size() != 2) {
      if (auto it = held_.find(id); it != held_.end() && it->second.state == held_state::settling) {
        it->second.state = held_state::queued;
        deads_.push_back(id);
      }
      return refused("MULTI/XADD/XACK/EXEC", failed ? *failed : reply::error("EXECABORT"));
    }
    if (auto it = held_.find(id); it != held_.end() && it->second.state == held_state::settling) {
      settled(id, it->second);
      held_.erase(it);
    }
    count_in_flight();
    maybe_finish();
    pump();
  }

  void settled(const stream_id& id, const held& h) {
    if (h.settle == settle_kind::ack) {
      ++st_->acked;
      emit(consumer_event::kind::acked, &id, h.count);
    } else {
      ++st_->dead_lettered;
      emit(consumer_event::kind::dead_lettered, &id, h.count, h.reason);
    }
  }

  // The worker closed: no more reads; deliveries waiting for a retry stay
  // pending; the consumer ends once what was handled is settled (or after
  // `settle_timeout`).
  void stop() {
    if (stopping_) return;
    stopping_ = true;
    poll_timer_->cancel();
    lease_timer_->cancel();
    retries_.clear();
    retry_timer_->cancel();
    std::vector<stream_id> waiting;
    for (auto& [id, h] : held_)
      if (h.state == held_state::waiting) waiting.push_back(id);
    for (auto& id : waiting) release(held_.find(id));
    after(*lease_timer_, o_.settle_timeout, [](consumer_core& s) { s.finish(); });
    maybe_finish();
  }

  void maybe_finish() {
    if (stopping_ && !finished_ && held_.empty()) finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    poll_timer_->cancel();
    lease_timer_->cancel();
    retry_timer_->cancel();
    backoff_timer_->cancel();
    if (conn_) conn_->close();
    conn_.reset();
    held_.clear();
    count_in_flight();
    st_->stopped.store(true);
    emit(consumer_event::kind::stopped);
    life_.cancel();
  }

  std::shared_ptr<consumer::state> st_ = std::make_shared<consumer::state>();
  Worker w_;
  boost::asio::any_io_executor ex_;
  std::shared_ptr<connector> broker_;
  consumer_options o_;
  Codec codec_;
  boost::asio::steady_timer life_;
  std::unique_ptr<time_source::timer> poll_timer_, retry_timer_, lease_timer_, backoff_timer_;
  std::shared_ptr<connection> conn_;
  std::uint64_t gen_ = 0;  // the connection's generation: replies of an older one are stale
  unsigned attempt_ = 0;   // backoffs since the last success
  held_map held_;
  std::multimap<steady_clock::time_point, stream_id> retries_;
  std::vector<stream_id> acks_, deads_;
  std::set<stream_id> seen_;  // in the pending list, during a recovery
  std::string recover_cursor_ = "-";
  std::mt19937 random_;
  bool connecting_ = false;
  bool group_ready_ = false;
  bool recovering_ = true;  // the own pending list is read first
  bool wait_room_ = false;  // the recovery waits for room to take the rest
  bool busy_ = false;       // a read, a recovery page or a claim is in flight
  bool polling_ = false;    // an empty read: waiting `poll`
  bool paused_ = false;     // a backoff after a refusal or a lost connection
  bool claim_due_ = false;
  bool flush_posted_ = false;
  bool acking_ = false;  // an XACK is in flight
  bool stopping_ = false;
  bool finished_ = false;
};

}  // namespace detail
}  // namespace redis
WORKERS_END_NAMESPACE
