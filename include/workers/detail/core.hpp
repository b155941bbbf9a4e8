#pragma once

// The part of a worker that does not depend on its handlers: buffer, status,
// waiters, introspection, and the close bookkeeping shared by every buffer kind.
// Locks: `batch_mutex_` (worker side and introspection) is taken before
// `mutex_` (producers), never the other way round.

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/detail/buffer_config.hpp>
#include <workers/detail/dropbox_buffer.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/queue_buffer.hpp>
#include <workers/detail/read_demand.hpp>
#include <workers/detail/service.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/detail/worker_strand.hpp>
#include <workers/error.hpp>
#include <workers/status.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace workers::detail {

namespace asio = boost::asio;

template <class Def, class Kind>
class table_state;

enum class phase : std::uint8_t { launching, running, closing, closed };
enum class wake_reason : std::uint8_t { ready, timed_out };

// The buffer of each kind. A callback worker's reader hands over one request
// at a time, through an unbounded queue that thus holds at most one.
template <class Kind, class Def>
struct buffer_for {
  using type = queue_buffer<entry<Def>>;
};
template <class Def>
struct buffer_for<dropbox, Def> {
  using type = dropbox_buffer<Def>;
};

template <class Def, class Kind>
class core : public abandonable, public std::enable_shared_from_this<core<Def, Kind>> {
 public:
  using name_type = typename Def::name_type;
  using state_type = typename Def::state_type;
  using parameters_type = typename Def::parameters_type;
  using view_type = typename Def::request_view;
  using entry_type = entry<Def>;
  using strand_type = asio::strand<asio::any_io_executor>;
  using table_type = table_state<Def, Kind>;
  using config_type = buffer_config<Def, Kind>;
  using any_request = typename Def::request_variant;
  static constexpr bool is_dropbox = std::is_same_v<Kind, dropbox>;
  static constexpr bool is_callback = std::is_same_v<Kind, callback>;

  core(worker_strand strand, name_type name, parameters_type parameters,
       std::weak_ptr<table_type> table, std::optional<clock::duration> timeout,
       std::shared_ptr<const config_type> config)
      : strand_(std::move(strand)),
        name_(std::move(name)),
        parameters_(std::move(parameters)),
        table_(std::move(table)),
        timeout_(timeout),
        config_(std::move(config)),
        buffer_(capacity_of(*config_)),
        born_(clock::now()),
        since_(born_) {}

  core(const core&) = delete;
  core& operator=(const core&) = delete;

  ~core() {
    if (service_) service_->remove(this);
  }

  const name_type& name() const noexcept { return name_; }
  std::string full_name() const { return Def::full_name(name_); }
  const parameters_type& parameters() const noexcept { return parameters_; }
  const config_type& config() const noexcept { return *config_; }
  // Throws once the execution context is gone: nothing can run there any more.
  strand_type strand() const {
    if (!strand_.valid())
      throw std::logic_error("workers: the execution context of worker " + full_name() +
                             " was destroyed");
    return strand_.get();
  }
  bool on_strand() const noexcept { return strand_.running_in_this_thread(); }

  // ---- producers, any thread ----

  enum class push_outcome { queued, waiting, full, refused };

  // Enqueues `e` unless the worker is closing. A full bounded queue parks the
  // producer when `may_wait` (with its push waiter, if any) and answers `full`
  // otherwise. `e` and `push_waiter` are left untouched unless queued or parked.
  push_outcome push(entry_type& e, bool may_wait, waiter_ref* push_waiter = nullptr) {
    std::unique_lock lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return push_outcome::refused;
    if (buffer_.must_wait()) {
      if (!may_wait) return push_outcome::full;
      if (buffer_.block(e, push_waiter)) return push_outcome::waiting;
      // the worker made room meanwhile
    }
    buffer_.push(std::move(e));
    return queued(lock);
  }

  // Fire and forget: the entry is built in place, without a caller, unless the
  // worker is closing (refused) or a bounded queue is full.
  template <class R>
  push_outcome push_now(R&& request) {
    const auto now = clock::now();
    std::unique_lock lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return push_outcome::refused;
    if (buffer_.must_wait()) return push_outcome::full;
    buffer_.emplace(std::forward<R>(request), now);
    return queued(lock);
  }

  bool is_shutting_down() const noexcept { return closing_.load(std::memory_order_acquire); }

  // From the caller's cancellation, any thread.
  void post_cancel_for_caller(std::uint64_t request) noexcept {
    try {
      if (strand_.valid())
        strand_.post(
            [self = this->shared_from_this(), request] { self->cancel_for_caller(request); });
    } catch (...) {  // out of memory: the handler runs to its end, as without the opt-in
    }
  }

  // Crashes the worker from its strand outside any handler (a dropbox's merge,
  // a callback's read): the handler in flight, if any, is cancelled.
  void fail(std::string what) {
    begin_close(error_list{std::move(what)});
    cancel_in_flight();
  }
  phase current_phase() const noexcept { return phase_.load(std::memory_order_acquire); }

  // Starts closing; false if it already was (crash errors are then added). From another thread, the
  // handler in flight is cancelled; from the worker's own strand (a handler asking for its own
  // worker's end) it is not, since it is the caller.
  bool begin_close(std::optional<error_list> crash = std::nullopt) {
    std::unique_lock lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) {
      if (crash) {
        if (!crash_errors_) crash_errors_.emplace();
        crash_errors_->insert(crash_errors_->end(), crash->begin(), crash->end());
      }
      return false;
    }
    closing_.store(true, std::memory_order_release);
    crash_errors_ = std::move(crash);
    if (phase_.load(std::memory_order_relaxed) == phase::running) set_phase_locked(phase::closing);
    // A parked loop has no handler in flight: waking it is enough.
    const bool parked = parked_;
    wake_locked(lock, wake_reason::ready);
    if (!parked && !on_strand())
      strand_.post([self = this->shared_from_this()] { self->cancel_in_flight(); });
    return true;
  }

  // Completes with an empty error code once the worker is closed.
  template <class Token>
  auto wait_for_completion(Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) { this->wait_closed(std::move(handler)); }, token);
  }

  template <class Handler>
  void wait_closed(Handler&& handler) {
    using op_t = waiter_op<error_code, std::decay_t<Handler>, strand_type>;
    auto* op = op_t::create(std::forward<Handler>(handler), strand());
    std::unique_lock lock(mutex_);
    if (phase_.load(std::memory_order_relaxed) == phase::closed) {
      lock.unlock();
      op->answer(error_code{}, true);
      op->release();
      return;
    }
    // Callers that gave up stay listed until close; sweep them when the list
    // has doubled, so that repeated timed waits do not grow it forever.
    if (completion_waiters_.size() >= 2 * swept_size_ + 8) {
      std::erase_if(completion_waiters_, [](const waiter_ref& w) { return w.get()->cancelled(); });
      swept_size_ = completion_waiters_.size();
    }
    completion_waiters_.emplace_back(op);
  }

  // Made on first use: most workers never hand theirs out.
  workers::canceler get_canceler() {
    std::lock_guard lock(mutex_);
    if (!canceler_) {
      canceler_ = workers::canceler();
      if (phase_.load(std::memory_order_relaxed) == phase::closed) canceler_->cancel();
    }
    return *canceler_;
  }

  std::optional<error_list> crash_errors() const {
    std::lock_guard lock(mutex_);
    return crash_errors_;
  }

  // ---- introspection, any thread ----

  std::size_t table_size() const {
    auto table = table_.lock();
    return table ? table->size() : 0;
  }

  worker_status status() const {
    std::lock_guard lock(mutex_);
    switch (phase_.load(std::memory_order_relaxed)) {
      case phase::launching:
        return launching{since_};
      case phase::running:
        return running{since_};
      case phase::closing:
        return closing{born_, since_};
      case phase::closed:
        break;
    }
    return closed{born_, since_, crash_errors_};
  }

  std::optional<active_request<view_type>> current_request() const {
    std::lock_guard lock(batch_mutex_);  // the current entry stays in place meanwhile
    const entry_type* e = current_.load(std::memory_order_acquire);
    if (!e) return std::nullopt;
    return active_request<view_type>{e->pushed, e->treated, view_of(*e)};
  }

  std::vector<pending_request<view_type>> pending_requests() const {
    std::vector<pending_request<view_type>> out;
    std::scoped_lock lock(batch_mutex_, mutex_);
    out.reserve(buffer_.size());
    buffer_.for_each_pending([&](const entry_type& e) { out.push_back({e.pushed, view_of(e)}); });
    return out;
  }

  std::size_t pending_requests_length() const {
    std::scoped_lock lock(batch_mutex_, mutex_);
    return buffer_.size();
  }

  // ---- state: the worker's strand only ----

  state_type* state_ptr() noexcept { return state_ ? &*state_ : nullptr; }

  state_type& state_checked() {
    switch (current_phase()) {
      case phase::launching:
        throw std::logic_error("workers: state of worker " + full_name() +
                               " requested before its launch completed");
      case phase::closed:
        throw std::logic_error("workers: state of worker " + full_name() +
                               " requested after it closed");
      default:
        break;
    }
    if (!on_strand())
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested outside its strand; use with_state");
    if (!state_) throw std::logic_error("workers: state of worker " + full_name() + " is gone");
    return *state_;
  }

 protected:
  // ---- worker side: the strand only ----

  // A running worker counts as outstanding work of its execution context, as a
  // pending operation does: run() does not return while it may get requests.
  // An io_context's executor says so without the allocation of a type-erased one.
  void hold_work() { work_ = strand_.track(); }

  void register_with_service() {
    service_ = &asio::use_service<worker_service>(strand_.context());
    service_->add(this);
  }

  // The next request, or null. A queue that finds nothing parks the loop
  // (`parked`) under the lock it took to look.
  entry_type* take_next(bool& parked) {
    if constexpr (is_dropbox) {
      merge_puts();
      if (is_shutting_down()) return nullptr;  // a merge crashed it: the slot is drained at close
    }
    // The batch lock only guards moving or destroying entries, which a queue
    // does once per batch; taking the next entry of a batch needs no lock.
    entry_type* e;
    const auto park_if_empty = [&] { parked = park_locked(); };
    if (buffer_.next_moves_entries()) {
      std::lock_guard lock(batch_mutex_);
      current_.store(nullptr, std::memory_order_relaxed);
      e = buffer_.next(mutex_, admitted_, park_if_empty);
    } else {
      e = buffer_.next(mutex_, admitted_, park_if_empty);
    }
    if (e) {
      e->treated = clock::now();
      current_.store(e, std::memory_order_release);
    }
    if (!admitted_.empty()) {
      for (auto& w : admitted_) static_cast<push_waiter*>(w.get())->answer({error_code{}, true});
      admitted_.clear();
    }
    return e;
  }
  void clear_current() { current_.store(nullptr, std::memory_order_release); }

  // Parks the loop until a push, a shutdown or the idle timeout, which post
  // `resume`; false if there is something to do already. A parked worker is
  // a flag, not a suspended coroutine: waking it is one post to its strand.
  bool park() {
    std::lock_guard lock(mutex_);
    return park_locked();
  }
  // Once parked: arms the idle timeout, and lets a callback worker's reader read.
  void while_parked() {
    want_request();
    if (timeout_) {  // a wake-up before it fires runs `resume` after this: it cancels the timer
      const std::uint64_t generation = ++sleep_generation_;
      if (!timer_) timer_ = std::make_unique<asio::steady_timer>(strand_.get());
      timer_->expires_after(*timeout_);
      timer_->async_wait([self = this->shared_from_this(), generation](error_code ec) {
        if (!ec) self->wake_on_timeout(generation);
      });
    }
  }
  // Runs `resume(why)` on the strand. The worker keeps itself alive until it
  // closes (see worker_impl), so the handler needs no reference count.
  void post_resume(wake_reason why) {
    strand_.post([this, why] { this->resume(why); });
  }
  void cancel_timer() {
    if (timer_) timer_->cancel();
  }

 public:
  // Callback workers: the loop and the reader meet here (strand only).
  auto& demand() noexcept { return demand_; }
  asio::cancellation_signal& reader_signal() noexcept { return reader_signal_; }

 protected:
  // Callback workers: the loop wants its next request.
  void want_request() {
    if constexpr (is_callback) demand_.want(strand_.get());
  }
  // Callback workers: a reader waiting for demand ends; a pending read is cancelled.
  void stop_reader() {
    if constexpr (is_callback) {
      demand_.release(strand_.get());
      reader_signal_.emit(asio::cancellation_type::terminal);
    }
  }

  void set_running(std::optional<state_type>&& state) {
    state_ = std::move(state);
    std::lock_guard lock(mutex_);
    set_phase_locked(closing_.load(std::memory_order_relaxed) ? phase::closing : phase::running);
  }

  void add_crash_error(std::string what) {
    std::lock_guard lock(mutex_);
    if (!crash_errors_) crash_errors_.emplace();
    crash_errors_->push_back(std::move(what));
  }

  // Refuses further pushes and answers every queued caller, and every
  // producer still waiting for room (with false: not enqueued).
  void drain_closed() {
    std::vector<entry_type> pending;
    typename buffer_type::blocked_list blocked;
    {
      std::scoped_lock lock(batch_mutex_, mutex_);
      closing_.store(true, std::memory_order_release);
      current_.store(nullptr, std::memory_order_relaxed);
      pending = buffer_.take_all(blocked);
    }
    const auto errors = crash_errors();
    for (auto& e : pending) answer_error(e, worker_closed{errors});
    for (auto& b : blocked) {
      answer_error(b.entry, worker_closed{errors});
      if (b.push) static_cast<push_waiter*>(b.push.get())->answer({error_code{}, false});
    }
  }

  // The last step of every close: drop the state, leave the table, become
  // closed, then answer whoever waits for that.
  void finish_close() {
    state_.reset();
    cancel_timer();
    if (auto table = table_.lock()) table->erase(name_, this);
    std::vector<waiter_ref> waiters;
    std::optional<workers::canceler> hooks;
    {
      std::lock_guard lock(mutex_);
      set_phase_locked(phase::closed);
      waiters.swap(completion_waiters_);
      hooks = canceler_;
    }
    if (hooks) hooks->cancel();
    for (auto& w : waiters) static_cast<waiter<error_code>*>(w.get())->answer(error_code{});
    if (service_) {
      service_->remove(this);
      service_ = nullptr;
    }
    work_ = std::monostate{};
  }

  // Called by the service when the execution context is destroyed: its
  // handlers will never run again, so the worker is closed on the spot, as
  // crashed, and leaves its table; its pending callers are abandoned with the
  // context's other pending operations (no handler runs, on_close included).
  void abandon() noexcept override {
    auto keep = this->shared_from_this();
    std::vector<waiter_ref> waiters;
    std::vector<entry_type> pending;
    typename buffer_type::blocked_list blocked;
    {
      std::scoped_lock lock(batch_mutex_, mutex_);
      closing_.store(true, std::memory_order_release);
      if (!crash_errors_) crash_errors_.emplace();
      crash_errors_->push_back("abandoned: its execution context was destroyed");
      set_phase_locked(phase::closed);
      parked_ = false;
      waiters.swap(completion_waiters_);
      current_.store(nullptr, std::memory_order_relaxed);
      pending = buffer_.take_all(blocked);
    }
    if (auto table = table_.lock()) table->erase(name_, this);
    // What refers to the context must go before its services do.
    timer_.reset();
    work_ = std::monostate{};
    cancel_signal_.slot().clear();
    reader_signal_.slot().clear();
    strand_.reset();
    service_ = nullptr;
  }

  // On the strand: the loop goes on after a wake-up.
  virtual void resume(wake_reason why) = 0;
  virtual void cancel_in_flight() = 0;

  std::shared_ptr<abandonable> keep_alive() noexcept override {
    return this->weak_from_this().lock();
  }
  // On the strand: the caller of request number `request` cancelled; cancel its handler if
  // it is still the one in flight.
  virtual void cancel_for_caller(std::uint64_t request) = 0;

  asio::cancellation_signal cancel_signal_;

 private:
  view_type view_of(const entry_type& e) const {
    return std::visit([](const auto& r) -> view_type { return Def::request_param::view(r); },
                      e.request);
  }

  void set_phase_locked(phase p) {
    phase_.store(p, std::memory_order_release);
    since_ = clock::now();
  }

  // A request was queued: wake the loop if it is parked.
  push_outcome queued(std::unique_lock<std::mutex>& lock) {
    if constexpr (is_dropbox) {
      // A busy worker merges the put as soon as its strand is free: the slot,
      // not the inbox, is what waits.
      if (!parked_ && !merge_scheduled_) {
        merge_scheduled_ = true;
        lock.unlock();
        strand_.post([self = this->shared_from_this()] { self->merge_pass(); });
        return push_outcome::queued;
      }
    }
    wake_locked(lock, wake_reason::ready);
    return push_outcome::queued;
  }

  bool park_locked() {
    if (!buffer_.incoming_empty() || closing_.load(std::memory_order_relaxed)) return false;
    parked_ = true;
    return true;
  }

  void wake_locked(std::unique_lock<std::mutex>& lock, wake_reason why) {
    if (!std::exchange(parked_, false)) return;
    lock.unlock();
    post_resume(why);
  }

  // Dropbox: a merge pass scheduled by a put while the loop was not parked.
  // Before the loop runs (launching) the puts wait for it; after close they
  // were answered by drain_closed.
  void merge_pass() {
    {
      std::lock_guard lock(mutex_);
      merge_scheduled_ = false;
    }
    if (current_phase() == phase::launching || is_shutting_down()) return;
    merge_puts();
    std::unique_lock lock(mutex_);
    if (!buffer_.incoming_empty()) wake_locked(lock, wake_reason::ready);
  }

  // Dropbox: folds the waiting puts into the slot, on the strand. A merge
  // that throws crashes the worker; the buffer gave its put's caller the exception.
  void merge_puts() {
    if constexpr (is_dropbox) {
      {
        std::lock_guard lock(mutex_);
        if (buffer_.inbox_empty()) return;
      }
      worker<Def, Kind> self(this->shared_from_this());
      try {
        buffer_.merge_inbox(batch_mutex_, mutex_,
                            [&](any_request&& in, const any_request* pending) {
                              return config_->merge(self, std::move(in), pending);
                            });
      } catch (...) {
        fail("merge threw: " + describe(std::current_exception()));
      }
    }
  }

  void wake_on_timeout(std::uint64_t generation) {
    std::unique_lock lock(mutex_);
    if (generation == sleep_generation_) wake_locked(lock, wake_reason::timed_out);
  }

  worker_strand strand_;  // reset when the execution context is destroyed
  name_type name_;
  parameters_type parameters_;
  std::weak_ptr<table_type> table_;
  std::optional<clock::duration> timeout_;
  std::optional<state_type> state_;
  std::shared_ptr<const config_type> config_;  // shared with the table

  using buffer_type = typename buffer_for<Kind, Def>::type;

  mutable std::mutex mutex_;  // producers: buffer intake, wake-up, status, waiters
  buffer_type buffer_;
  std::vector<waiter_ref> admitted_;  // strand only: producers let in by take_next
  bool parked_ = false;               // the loop waits for wake_locked
  bool merge_scheduled_ = false;      // dropbox: a merge pass is posted
  std::atomic<bool> closing_{false};
  std::atomic<phase> phase_{phase::launching};
  clock::time_point born_, since_;
  std::optional<error_list> crash_errors_;
  std::vector<waiter_ref> completion_waiters_;
  std::size_t swept_size_ = 0;
  std::optional<workers::canceler> canceler_;

  mutable std::mutex batch_mutex_;             // worker side: current request
  std::atomic<entry_type*> current_{nullptr};  // written on the strand

  std::uint64_t sleep_generation_ = 0;  // strand only, read under mutex_
  [[no_unique_address]] std::conditional_t<is_callback, read_demand, no_read_demand> demand_;
  asio::cancellation_signal reader_signal_;    // callback: cancels a pending read at close
  std::unique_ptr<asio::steady_timer> timer_;  // made for an idle timeout only
  worker_service* service_ = nullptr;
  worker_strand::work work_;  // from launch to close
};

}  // namespace workers::detail
