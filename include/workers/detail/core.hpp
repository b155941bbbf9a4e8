#pragma once

// The part of a worker that does not depend on its handlers: identity, buffer,
// lifecycle, waiters, introspection, and the steps of the close that need no
// handler. One mutex (`mutex_`) guards the lifecycle, the waiting lists and
// what introspection reads of the buffer; a queue worker's producers push
// without it (queue_buffer.hpp), a dropbox's take it. No user code runs while
// it is held, but the move of a request into the buffer and `Request::view`
// (see README, "Locks").

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/attributes.hpp>
#include <workers/detail/dropbox_buffer.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/lifecycle.hpp>
#include <workers/detail/metrics_cells.hpp>
#include <workers/detail/queue_buffer.hpp>
#include <workers/detail/read_demand.hpp>
#include <workers/detail/service.hpp>
#include <workers/detail/table_config.hpp>
#include <workers/detail/waiter.hpp>
#include <workers/detail/worker_strand.hpp>
#include <workers/error.hpp>
#include <workers/events.hpp>
#include <workers/launch_options.hpp>
#include <workers/metrics.hpp>
#include <workers/status.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/assert.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace workers::inline v0 {
template <class Def, class Kind>
class worker;
}  // namespace workers::inline v0

namespace workers::inline v0::detail {

namespace asio = boost::asio;

template <class Def, class Kind>
class table_state;

enum class wake_reason : std::uint8_t { ready, timed_out };

// The executor a worker handle shows: its strand, whose default completion
// token is `use_awaitable`, so that `co_await op(w, ...)` needs no token.
using worker_executor =
    asio::use_awaitable_t<>::executor_with_default<asio::strand<asio::any_io_executor>>;

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
class core : public registered_worker, public std::enable_shared_from_this<core<Def, Kind>> {
 public:
  using name_type = typename Def::name_type;
  using state_type = typename Def::state_type;
  using parameters_type = typename Def::parameters_type;
  using view_type = typename Def::request_view;
  using entry_type = entry<Def>;
  using executor_type = worker_executor;
  using table_type = table_state<Def, Kind>;
  using config_type = table_config<Def, Kind>;
  using any_request = typename Def::request_variant;
  using handle_type = worker<Def, Kind>;
  static constexpr bool is_dropbox = std::is_same_v<Kind, dropbox>;
  static constexpr bool is_callback = std::is_same_v<Kind, callback>;

  core(worker_strand strand, name_type name, parameters_type parameters,
       std::weak_ptr<table_type> table, const launch_options& options,
       std::shared_ptr<const config_type> config)
      : strand_(std::move(strand)),
        name_(std::move(name)),
        parameters_(std::move(parameters)),
        table_(std::move(table)),
        config_(std::move(config)),
        timeout_(options.timeout.value_or(no_timeout)),
        buffer_(capacity_of(config_->buffer), options.alarms || config_->metrics),
        born_(clock::now()),
        since_(born_),
        reply_(options.reply) {
    if (options.alarms) {
      if (options.alarms->low > options.alarms->high)
        throw std::invalid_argument(fmt::format(
            "workers: queue alarms of worker {}: low watermark {} above high watermark {}",
            full_name(), options.alarms->low, options.alarms->high));
      alarm_ = std::make_unique<alarm_state>(alarm_state{*options.alarms});
    }
    if (config_->metrics) metrics_ = std::make_unique<metrics_cells>();
  }

  core(const core&) = delete;
  core& operator=(const core&) = delete;

  ~core() {
    if (registry_) registry_->remove(this);
  }

  // Identity: any thread.

  const name_type& name() const noexcept { return name_; }
  std::string full_name() const { return Def::full_name(name_); }
  const parameters_type& parameters() const noexcept { return parameters_; }
  const config_type& config() const noexcept { return *config_; }
  // The worker's strand. Throws once the execution context is gone: nothing can run there any more.
  executor_type executor() const {
    check_context();
    return executor_type(strand_.get());
  }
  // What a waiter completes on when its handler has no executor of its own:
  // the worker's strand, which it takes typed (see completion_work).
  struct strand_source {
    const core* c;
    executor_type operator()() const { return c->executor(); }
    worker_strand::tracked_strand tracked_strand() const {
      c->check_context();
      return c->strand_.track_strand();
    }
  };
  strand_source io_executor() const noexcept { return {this}; }
  bool on_strand() const noexcept { return strand_.running_in_this_thread(); }
  // Whether the calling code is one of this worker's hooks (see hook_executor.hpp).
  bool inside_hook() const noexcept { return hook_scope::marked() && on_strand(); }

  // Joins the service of the worker's execution context, which abandons it
  // when the context is destroyed: from the launch's initiation on.
  void register_with_service() {
    registry_ = asio::use_service<worker_service>(strand_.context()).registry();
    registry_->add(this);
  }

  // Lifecycle: any thread.

  phase current_phase() const noexcept { return phase_.load(std::memory_order_acquire); }
  bool is_shutting_down() const noexcept { return refuses_work(current_phase()); }

  worker_status status() const {
    std::lock_guard lock(mutex_);
    return status_of(phase_.load(std::memory_order_relaxed), born_, since_, reason_);
  }
  close_reason reason() const {
    std::lock_guard lock(mutex_);
    return reason_.get();
  }
  std::optional<error_list> crash_errors() const {
    std::lock_guard lock(mutex_);
    return reason_.crash_errors();
  }

  // The close (SPEC §5): the one way a worker ends.
  //
  //   1. refuse new work              request_close (any thread): the phase becomes closing
  //   2. cancel the hook in flight    close_requested (strand), unless the close
  //                                   comes from that hook; a callback's pending read too
  //   3. answer what is queued        drain (strand), at once and again before on_close
  //   4. on_close(reason)             worker_impl::close_tail, once no hook is in flight
  //   5. leave the table              end_close (strand)
  //   6. run the canceler's hooks, answer those waiting for completion   end_close
  //
  // A failed launch takes the same steps but 4. A worker whose execution
  // context dies takes them in `abandon`, but 2 and 4 (no handler runs), and its
  // callers are abandoned instead of answered, as Asio abandons the pending
  // operations of a destroyed context.

  // Steps 1-2. Starts closing for `cause`; false if the worker was closing
  // already, in which case `errors` are added to its crash errors.
  bool request_close(close_cause cause, std::optional<error_list> errors = std::nullopt) {
    const bool from_inside = inside_hook();
    bool was_parked = false;
    {
      std::lock_guard lock(mutex_);
      if (refuses_work(phase_.load(std::memory_order_relaxed))) {
        if (errors) add_crash_errors_locked(std::move(*errors));
        return false;
      }
      reason_ = kept_reason{};  // the cause of the close replaces a crash's
      reason_.set(cause, std::move(errors));
      transition_locked(phase::closing);
      was_parked = unpark();
    }
    if (cause == close_cause::shutdown || cause == close_cause::on_error_shutdown)
      emit<events::triggering_shutdown>([] { return events::triggering_shutdown{}; });
    strand_.post([self = this->shared_from_this(), from_inside, was_parked] {
      self->close_requested(from_inside, was_parked);
    });
    return true;
  }

  void add_crash_errors(error_list errors) {
    if (errors.empty()) return;
    std::lock_guard lock(mutex_);
    add_crash_errors_locked(std::move(errors));
  }

  // Producers: any thread.

  enum class push_outcome { queued, waiting, full, refused };

  // Enqueues `e`, stamped with its push time, unless the worker is closing. A
  // full bounded queue parks the producer when `may_wait` (with its push
  // waiter, if any) and answers `full` otherwise. `e` and `push_waiter` are
  // left untouched unless queued or parked.
  // A push or a put takes no lock, unless a bounded queue is full and the
  // producer may wait (see queue_buffer.hpp). The phase is read without the
  // lock: a push that races with the start of a close may still get in,
  // until the close seals the intake, and is then answered by the close.
  push_outcome push(entry_type& e, bool may_wait, waiter_ptr* push_waiter = nullptr) {
    if (refuses_work(phase_.load(std::memory_order_acquire))) return refuse(e);
    e.pushed = clock::now();
    if (!buffer_.reserve()) {
      if (!may_wait) return push_outcome::full;
      std::unique_lock lock(mutex_);
      if (refuses_work(phase_.load(std::memory_order_relaxed))) {
        lock.unlock();
        return refuse(e);
      }
      if (buffer_.block(e, push_waiter)) return push_outcome::waiting;
      // there was room: the place is reserved
    }
    return link(make_node(std::move(e)), &e);
  }

  // Fire and forget: the entry is built in place, without a caller, unless the
  // worker is closing (refused) or a bounded queue is full.
  template <class R>
  push_outcome push_now(R&& request) {
    if (refuses_work(phase_.load(std::memory_order_acquire))) {
      refused([&] { return view_type(Def::request_param::view(request)); });
      return push_outcome::refused;
    }
    if (!buffer_.reserve()) return push_outcome::full;
    return link(make_node(std::forward<R>(request), clock::now()), nullptr);
  }

  // Waiters: any thread.

  // Answers `w` (a waiter<error_code>) once the worker has closed.
  void wait_closed(waiter_ptr w) {
    waiter_ptr swept;  // destroyed after the lock is released
    {
      std::lock_guard lock(mutex_);
      if (!has_ended(phase_.load(std::memory_order_relaxed))) {
        // Newest first. A caller that gave up stays listed until the close
        // unless it is among the newest: a new caller drops those first, so
        // repeated timed waits do not grow the list.
        while (completion_waiters_ && completion_waiters_->gave_up()) {
          waiter_ptr gone = std::exchange(completion_waiters_, completion_waiters_->take_next());
          gone->append(std::move(swept));
          swept = std::move(gone);
        }
        w->append(std::move(completion_waiters_));
        completion_waiters_ = std::move(w);
        return;
      }
    }
    typed<error_code>(w)->answer(error_code{});
  }

  // Made on first use: most workers never hand theirs out.
  workers::canceler get_canceler() {
    std::lock_guard lock(mutex_);
    if (!canceler_) canceler_ = access::make_canceler(hooks_ran_);
    return *canceler_;
  }

  // The caller of request number `request` cancelled (any thread).
  void post_cancel_for_caller(std::uint64_t request) noexcept {
    try {
      if (strand_.valid())
        strand_.post(
            [self = this->shared_from_this(), request] { self->cancel_for_caller(request); });
    } catch (...) {  // out of memory: the handler runs to its end, as without the opt-in
    }
  }

  // Runs `f` on the strand. Throws if the execution context is gone.
  template <class F, class Allocator = op_allocator<void>>
  void post(F&& f, const Allocator& a = {}) const {
    if (!strand_.valid()) (void)executor();  // throws the logic_error naming the worker
    strand_.post(std::forward<F>(f), a);
  }

  // Introspection: any thread.

  std::size_t table_size() const {
    auto table = table_.lock();
    return table ? table->size() : 0;
  }

  std::optional<active_request<view_type>> current_request() const {
    std::lock_guard lock(mutex_);  // the current entry stays in place meanwhile
    const entry_type* e = current_.get();
    if (!e) return std::nullopt;
    return active_request<view_type>{e->pushed, e->treated, view_of(*e)};
  }

  std::vector<pending_request<view_type>> pending_requests() const {
    std::vector<pending_request<view_type>> out;
    std::lock_guard lock(mutex_);
    out.reserve(buffer_.size());
    buffer_.for_each_pending([&](const entry_type& e, clock::time_point pushed) {
      out.push_back({pushed, view_of(e)});
    });
    return out;
  }

  std::size_t pending_requests_length() const {
    std::lock_guard lock(mutex_);
    return buffer_.size();
  }

  // Status, current and pending requests, under one lock: one moment.
  worker_full_status<view_type> full_status_snapshot() const {
    worker_full_status<view_type> out;
    std::lock_guard lock(mutex_);
    out.status = status_of(phase_.load(std::memory_order_relaxed), born_, since_, reason_);
    out.pending_requests.reserve(buffer_.size());
    buffer_.for_each_pending([&](const entry_type& e, clock::time_point pushed) {
      out.pending_requests.push_back({pushed, view_of(e)});
    });
    if (const entry_type* e = current_.get())
      out.current_request = active_request<view_type>{e->pushed, e->treated, view_of(*e)};
    return out;
  }

  std::optional<worker_metrics> metrics_snapshot() const {
    if (!metrics_) return std::nullopt;
    std::size_t length = 0, in_flight = 0;
    {
      std::lock_guard lock(mutex_);
      length = buffer_.size();
      in_flight = current_.get() ? 1 : 0;
    }
    return metrics_->snapshot(length, in_flight);
  }

  // Observation (events.hpp, metrics.hpp). What nobody listens to costs a
  // test of a mask or a pointer: no event is built.

  WORKERS_ALWAYS_INLINE bool wants(level l) const noexcept { return config_->events.wants(l); }

  // Emits the event whose fields `make()` builds, if the sink wants its level.
  // Never throws: an event that cannot be built is lost, and counted.
  template <class Fields, class Make>
  void emit(Make&& make) const noexcept {
    constexpr level lvl = level_of(kind_of<Fields>());
    if (wants(lvl)) [[unlikely]]
      deliver_event<Fields>(lvl, make);
  }

  // The request path, on the strand.

  // Whether a request's end is observed: metrics, or a sink for its events.
  bool observing_requests() const noexcept { return metrics_ || wants(level::debug); }

  // The handler of the request in hand returned (or threw).
  void note_handled() noexcept {
    if (metrics_) metrics_->count_handled();
  }
  // `e` succeeded, with status `st` (after on_completion).
  void note_success(const entry_type& e, const request_status& st) {
    emit<events::request_no_errors>([&] {
      return events::request_no_errors{event_value::of(view_of(e)), st};
    });
  }
  // `e` failed with `error` (before on_error's decision takes effect).
  template <class E>
  void note_failure(const entry_type& e, const request_status& st, const E& error) {
    if (metrics_) {
      bump(metrics_->failed);
    }
    emit<events::request_error>([&] {
      return events::request_error{event_value::of(view_of(e)), st, error_value(error)};
    });
  }
  // The handling of `e` crashed the worker (it threw, or on_error said crash).
  void note_crashed_on() noexcept {
    if (metrics_) bump(metrics_->crashed);
  }
  // The handler of `e` threw: counted as handled, then `handler_threw`.
  void note_thrown() noexcept { note_crashed_on(); }
  // A queued request skipped: every caller of `e` gave up before it was handled.
  void note_skipped(const entry_type& e) {
    if (metrics_) metrics_->skip_service();
    note_cancelled(e);
  }
  // Every caller of `e` gave up: skipped while queued, or its handler cut short.
  void note_cancelled(const entry_type& e) {
    if (metrics_) metrics_cells::add(metrics_->cancelled);
    emit<events::request_cancelled>([&] {
      return events::request_cancelled{event_value::of(view_of(e)), e.pushed};
    });
  }
  // `e` leaves unhandled because the worker closed.
  void note_dropped(const entry_type& e) {
    if (metrics_) metrics_cells::add(metrics_->dropped);
    emit<events::request_dropped>([&] {
      return events::request_dropped{event_value::of(view_of(e)), e.pushed};
    });
  }
  // A handler, merge or read threw `what`: the worker crashes.
  void handler_threw(const char* where, const std::exception_ptr& what) {
    std::string text = describe(what);
    emit<events::handler_exception>([&] { return events::handler_exception{where, text}; });
    request_close(close_cause::handler_exception,
                  error_list{fmt::format("{} threw: {}", where, text)});
  }

  // State: the worker's strand only.

  state_type* state_ptr() noexcept { return state_ ? &*state_ : nullptr; }

  state_type& state_checked() {
    const phase p = current_phase();
    if (p == phase::launching)
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested before its launch completed");
    if (has_ended(p))
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested after it closed");
    if (!on_strand())
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested outside its strand; use with_state");
    if (!state_)
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested, but its launch did not give one");
    return *state_;
  }

  // Null before the launch completed and after the close.
  state_type* state_opt() {
    const phase p = current_phase();
    if (p == phase::launching || has_ended(p)) return nullptr;
    if (!on_strand())
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested outside its strand; use with_state");
    return state_ptr();
  }

  // Callback workers: the loop and the reader meet here (strand only).
  auto& demand() noexcept { return demand_; }
  asio::cancellation_signal& reader_signal() noexcept { return reader_signal_; }

 protected:
  using buffer_type = typename buffer_for<Kind, Def>::type;
  using leftovers = typename buffer_type::leftovers;

  // Worker side: the strand only.

  // The executor of the worker's coroutines (see hook_executor.hpp).
  asio::any_io_executor hook_executor() const { return strand_.hook_executor(); }

  // Whether handled requests' callers are completed with dispatch semantics.
  bool dispatches_replies() const noexcept { return reply_ == reply_mode::dispatch; }

  // A launched worker counts as outstanding work of its execution context, as
  // a pending operation does: run() does not return while it may get requests.
  void hold_work() { work_ = strand_.track(); }

  // The launch gave the state: running, unless a close began meanwhile.
  void set_running(state_type&& state) {
    state_.emplace(std::move(state));
    std::lock_guard lock(mutex_);
    if (phase_.load(std::memory_order_relaxed) == phase::launching)
      transition_locked(phase::running);
  }

  // The next request, or null. A queue that finds nothing parks the loop
  // (`parked`) under the lock it took to look.
  entry_type* take_next(bool& parked) {
    if constexpr (is_dropbox) {
      merge_puts();
      if (is_shutting_down()) return nullptr;  // a merge crashed it: the slot is drained at close
    }
    leftovers out;  // the request handled before, destroyed outside the lock
    entry_type* e = buffer_.next(
        mutex_, out, [&] { current_.clear(); }, [&] { parked = park(); });
    buffer_.collect();
    if (e) {
      e->treated = clock::now();
      current_.set(e);
    }
    if (metrics_) {
      metrics_->end_service(e ? e->treated : clock::now());
      if (e) metrics_->start_service(e->pushed, e->treated);
    }
    if (alarm_) check_alarm_on_take(e);
    if (auto* left = out.get())
      for (auto& w : left->admitted) typed<error_code>(w)->answer(error_code{});
    return e;
  }
  // The loop yields: the request in hand is done.
  void clear_current() {
    if (metrics_) metrics_->end_service(clock::now());
    std::lock_guard lock(mutex_);
    current_.clear();
  }

  // Parks the loop until a push, a close or the idle timeout, which post
  // `resume`; false if there is something to do already. A parked worker is
  // a flag, not a suspended coroutine: waking it is one post to its strand.
  // With or without the lock (take_next parks under it, the loop without).
  bool park() {
    if constexpr (is_dropbox)
      if (buffer_.has_slot()) return false;  // a put merged in the slot waits to be handled
    return park_intake();
  }
  // Once parked: arms the idle timeout, and lets a callback worker's reader read.
  void while_parked() {
    want_request();
    if (timeout_ != no_timeout) {  // a wake-up before it fires cancels the timer
      const std::uint64_t generation = ++sleep_generation_;
      if (!timer_) timer_ = std::make_unique<asio::steady_timer>(strand_.get());
      timer_->expires_after(timeout_);
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

  // Callback workers: the loop wants its next request.
  void want_request() {
    if constexpr (is_callback) demand_.want(strand_.get());
  }
  // Step 2 for a callback worker: a reader waiting for demand ends; a pending read is cancelled.
  void stop_reader() {
    if constexpr (is_callback) {
      demand_.release(strand_.get());
      reader_signal_.emit(asio::cancellation_type::terminal);
    }
  }

  // Step 3: every queued caller, and every producer still waiting for room,
  // is answered `closed` (with the crash errors if it crashed).
  void drain() {
    leftovers out;
    {
      std::lock_guard lock(mutex_);
      buffer_.take_all(out);
    }
    buffer_.collect();
    const worker_closed why{crash_errors()};
    auto& left = *out.get();  // take_all fills it
    for (auto& e : left.entries) {
      note_dropped(e);
      answer_error(e, why);
    }
    for (auto& b : left.blocked) {
      note_dropped(b.entry);
      answer_error(b.entry, why);
      if (b.push) typed<error_code>(b.push)->answer(make_error_code(errc::closed));
    }
  }

  // Steps 5-6, after on_close: the state and the requests handled go, the
  // worker leaves its table, the canceler's hooks run, the worker is closed and
  // those who wait for that are answered. The caller keeps the worker alive.
  void end_close() {
    if (metrics_) metrics_->end_service(clock::now());
    state_.reset();
    cancel_timer();
    leave_table();
    run_canceler_hooks();
    leftovers handled;
    waiter_ptr waiters;
    close_reason why;
    {
      std::lock_guard lock(mutex_);
      transition_locked(phase::closed);
      current_.clear();
      buffer_.take_all(handled, true);
      waiters.swap(completion_waiters_);
      why = reason_.get();
    }
    buffer_.collect(true);
    note_ended(why);
    for_each_oldest_first(std::move(waiters),
                          [](waiter_ptr& w) { typed<error_code>(w)->answer(error_code{}); });
    work_ = std::monostate{};
  }

  // Called by the service while the execution context is destroyed: no
  // handler of it will run again (see "the close" above). A worker closed
  // already only drops what refers to the context.
  void abandon() noexcept override {
    auto keep = this->shared_from_this();
    leftovers out;  // every request, handled or not: they may refer to the context
    waiter_ptr waiters;
    bool was_live = false;
    {
      std::lock_guard lock(mutex_);
      was_live = !has_ended(phase_.load(std::memory_order_relaxed));
      if (was_live) {
        if (!reason_.has_value()) reason_.set(close_cause::context_destroyed, std::nullopt);
        add_crash_errors_locked({"abandoned: its execution context was destroyed"});
        transition_locked(phase::abandoned);
        waiters.swap(completion_waiters_);
      }
      current_.clear();
      buffer_.take_all(out, true);
    }
    buffer_.collect(true);
    auto& left = *out.get();  // take_all fills it
    for (auto& e : left.entries) abandon_chain(std::move(e.reply));
    for (auto& b : left.blocked) {
      abandon_chain(std::move(b.entry.reply));
      if (b.push) b.push->abandon();
    }
    if (was_live) {
      leave_table();
      run_canceler_hooks();
      for_each_oldest_first(std::move(waiters), [](waiter_ptr& w) { w->abandon(); });
      note_ended(reason());
    }
    // What refers to the context must go before its services do: a reader
    // waiting for demand is handed back to the context, which destroys it.
    if constexpr (is_callback)
      if (strand_.valid()) demand_.release(strand_.get());
    timer_.reset();
    work_ = std::monostate{};
    cancel_signal_.slot().clear();
    reader_signal_.slot().clear();
    strand_.reset();
    abandoned();
  }

  std::shared_ptr<registered_worker> keep_alive() noexcept override {
    return this->weak_from_this().lock();
  }

  // Implemented by the worker with its handlers, on the strand.
  virtual void resume(wake_reason why) = 0;
  // Steps 2-3 of the close, posted by request_close.
  virtual void close_requested(bool from_inside, bool was_parked) = 0;
  // The caller of request number `request` cancelled; cancel its handler if it
  // is still the one in flight.
  virtual void cancel_for_caller(std::uint64_t request) = 0;
  // After abandon: drop what the worker holds of itself.
  virtual void abandoned() noexcept = 0;

  asio::cancellation_signal cancel_signal_;  // the loop's coroutine: the hook in flight

 private:
  template <class Fields, class Make>
  WORKERS_COLD void deliver_event(level lvl, Make& make) const noexcept {
    try {
      config_->events.deliver(event{lvl, Def::section(), full_name(), clock::now(),
                                    event_fields(std::in_place_type<Fields>, make())});
    } catch (...) {
      sink_failure_count.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // A push refused after the close began (the caller's thread).
  template <class View>
  WORKERS_COLD void refused(View&& view) {
    if (metrics_) metrics_cells::add(metrics_->refused);
    emit<events::request_refused>([&] { return events::request_refused{event_value::of(view())}; });
  }

  // The end of the close: terminated, or crashed with every error. A failed
  // launch has had its launch_failed.
  void note_ended(const close_reason& why) {
    if (why.cause == close_cause::launch_failed) return;
    if (why.crash_errors)
      emit<events::crashed>([&] { return events::crashed{*why.crash_errors}; });
    else
      emit<events::terminated>([] { return events::terminated{}; });
  }

  // A request's error as an event carries it: itself if it can be copied, else its text.
  template <class E>
  static event_value error_value(const E& error) {
    if constexpr (std::is_copy_constructible_v<E>)
      return event_value::of(error);
    else if constexpr (fmt::is_formattable<E>::value)
      return event_value::of(fmt::format("{}", error));
    else
      return event_value::of(std::string(typeid(E).name()));
  }

  view_type view_of(const entry_type& e) const {
    return std::visit([](const auto& r) -> view_type { return Def::request_param::view(r); },
                      e.request);
  }

  // The one place the phase changes (under mutex_).
  void transition_locked(phase to) {
    BOOST_ASSERT_MSG(legal_transition(phase_.load(std::memory_order_relaxed), to),
                     "workers: illegal lifecycle transition");
    phase_.store(to, std::memory_order_seq_cst);  // see park_intake
    since_ = clock::now();
  }

  void add_crash_errors_locked(error_list errors) { reason_.add(std::move(errors)); }

  void check_context() const {
    if (!strand_.valid())
      throw std::logic_error("workers: the execution context of worker " + full_name() +
                             " was destroyed");
  }

  // Unchains the list of waiters `newest` (newest first) and calls `f` on each, oldest first.
  template <class F>
  static void for_each_oldest_first(waiter_ptr newest, F f) {
    waiter_ptr oldest;
    while (newest) {
      waiter_ptr w = std::exchange(newest, newest->take_next());
      w->append(std::move(oldest));
      oldest = std::move(w);
    }
    while (oldest) {
      waiter_ptr w = std::exchange(oldest, oldest->take_next());
      f(w);
    }
  }

  // Step 5.
  void leave_table() {
    if (auto table = table_.lock()) table->erase(name_, this);
  }

  // Part of step 6: the canceler's hooks run once, even if none was handed out
  // yet (a canceler asked for later runs its hooks at once).
  void run_canceler_hooks() {
    std::optional<workers::canceler> hooks;
    {
      std::lock_guard lock(mutex_);
      hooks_ran_ = true;
      hooks = canceler_;
    }
    if (hooks) add_crash_errors(access::cancel(*hooks));
  }

  // Queue alarms (launch_options::alarms), checked under mutex_.
  struct alarm_state {
    queue_alarms limits;
    bool raised = false;
  };
  enum class alarm_change : std::uint8_t { none, high, normal };

  // At a push: the length only (a push makes nothing older).
  alarm_change alarm_on_push_locked() noexcept {
    const auto& a = alarm_->limits;
    if (alarm_->raised || a.high == 0 || buffer_.size() < a.high) return alarm_change::none;
    alarm_->raised = true;
    return alarm_change::high;
  }
  // At a take: the length left and the wait of the request taken (the oldest).
  void check_alarm_on_take(const entry_type* taken) {
    const clock::duration age = taken ? taken->treated - taken->pushed : clock::duration{};
    alarm_change change = alarm_change::none;
    std::size_t length = 0;
    {
      std::lock_guard lock(mutex_);
      length = buffer_.size();
      const auto& a = alarm_->limits;
      const bool too_old = a.max_age && age >= *a.max_age;
      const bool too_long = a.high != 0 && length >= a.high;
      if (!alarm_->raised && (too_old || too_long)) {
        alarm_->raised = true;
        change = alarm_change::high;
      } else if (alarm_->raised && !too_old && (a.high == 0 || length <= a.low)) {
        alarm_->raised = false;
        change = alarm_change::normal;
      }
    }
    note_alarm(change, length, age);
  }
  void note_alarm(alarm_change change, std::size_t length, clock::duration age) {
    if (change == alarm_change::high) {
      if (metrics_) metrics_cells::add(metrics_->queue_alarms);
      emit<events::queue_high>([&] { return events::queue_high{length, age}; });
    } else if (change == alarm_change::normal) {
      emit<events::queue_normal>([&] { return events::queue_normal{length}; });
    }
  }

  // A node for a reserved place.
  template <class... A>
  auto* make_node(A&&... a) {
    try {
      return buffer_type::node::make(std::forward<A>(a)...);
    } catch (...) {
      buffer_.unreserve();
      throw;
    }
  }

  // Links a node whose place is reserved, and wakes the loop if it was
  // parked. If a close sealed the intake meanwhile, the push is refused: the
  // entry goes back to `back`, if given. Once linked, the node is the
  // worker's: it may be handled, and the worker end, before this returns
  // (the caller's own handle may be gone), so a wake-up holds the worker.
  template <class Node>
  push_outcome link(Node* n, entry_type* back) {
    std::shared_ptr<core> keep;
    const bool alarmed = alarm_ != nullptr;
    if (alarmed) [[unlikely]]
      keep = this->shared_from_this();
    switch (buffer_.link(n, [&] {
      if (!keep) keep = this->shared_from_this();
    })) {
      case buffer_type::pushed::queued:
        break;
      case buffer_type::pushed::first:  // a dropbox's busy loop: merge when the strand is free
        keep->strand_.post([self = keep] { self->merge_pass(); });
        break;
      case buffer_type::pushed::woke:
        keep->strand_.post([self = keep] { self->resume(wake_reason::ready); });
        break;
      case buffer_type::pushed::sealed: {
        buffer_.unreserve();
        const auto outcome = refuse(n->entry);
        if (back) *back = std::move(n->entry);
        buffer_type::node::destroy(n);
        return outcome;
      }
    }
    if (alarmed) [[unlikely]]
      keep->note_queued_alarm();
    return push_outcome::queued;
  }
  WORKERS_COLD void note_queued_alarm() {
    alarm_change change = alarm_change::none;
    std::size_t length = 0;
    {
      std::lock_guard lock(mutex_);
      change = alarm_on_push_locked();
      length = buffer_.size();
    }
    note_alarm(change, length, clock::duration{});
  }

  WORKERS_COLD push_outcome refuse(const entry_type& e) {
    refused([&] { return view_of(e); });
    return push_outcome::refused;
  }

  // Parks a queue worker's loop in its intake; false if a request came in
  // or the close began. The close writes the phase, then unparks; the loop
  // parks, then reads the phase (all sequentially consistent): if the close
  // did not see the loop parked, the loop sees the close, and takes its
  // park back unless the close already did (it then resumes the loop).
  bool park_intake() {
    if (!buffer_.park()) return false;
    if (!refuses_work(phase_.load(std::memory_order_seq_cst))) return true;
    return !buffer_.unpark();
  }

  // Ends a park: true for the one caller that must resume the loop. Takes no
  // lock and needs none (the intake's word decides).
  bool unpark() { return buffer_.unpark(); }

  void wake_locked(std::unique_lock<std::mutex>& lock, wake_reason why) {
    if (!unpark()) return;
    lock.unlock();
    post_resume(why);
  }

  // Dropbox: a merge pass scheduled by a put while the loop was not parked.
  // Before the loop runs (launching) the puts wait for it; after close they
  // were answered by drain.
  void merge_pass() {
    if (current_phase() == phase::running) merge_puts();
  }

  // Dropbox: folds the waiting puts into the slot, on the strand. A merge
  // that throws crashes the worker; the buffer gave its put's caller the exception.
  void merge_puts() {
    if constexpr (is_dropbox) {
      if (buffer_.inbox_empty()) return;
      auto self = access::make_worker<handle_type>(this->shared_from_this());
      try {
        hook_scope inside;
        buffer_.merge_inbox(mutex_, [&](any_request&& in, const any_request* pending) {
          return config_->buffer.merge(self, std::move(in), pending);
        });
      } catch (...) {
        handler_threw("merge", std::current_exception());
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
  std::shared_ptr<const config_type> config_;  // shared with the table
  static constexpr auto no_timeout = std::chrono::steady_clock::duration::max();
  std::chrono::steady_clock::duration timeout_;  // the idle timeout, or no_timeout
  std::optional<state_type> state_;

  // The request being handled: set and cleared on the strand, read under the
  // lock by introspection. An integer atomic with each order fixed in place:
  // GCC may leave std::atomic<T*>::store out of line in a large translation
  // unit, and there the order, an argument, becomes a full-barrier exchange,
  // once per request.
  class current_entry {
   public:
    const entry_type* get() const noexcept {
      return reinterpret_cast<const entry_type*>(p_.load(std::memory_order_acquire));
    }
    void set(entry_type* e) noexcept {
      p_.store(reinterpret_cast<std::uintptr_t>(e), std::memory_order_release);
    }
    void clear() noexcept { p_.store(0, std::memory_order_relaxed); }

   private:
    std::atomic<std::uintptr_t> p_{0};
  };

  mutable std::mutex mutex_;  // buffer intake, lifecycle, waiting lists
  buffer_type buffer_;
  // 56 bytes that neither the worker nor a producer reads for each request: a
  // queue's intake word ends the buffer (see queue_buffer's fields), and a
  // producer's CAS on it must not steal a line the worker reads each time.
  clock::time_point born_, since_;
  std::shared_ptr<worker_registry> registry_;
  kept_reason reason_;
  waiter_ptr completion_waiters_;  // a chain (waiter_base::next), newest first
  std::atomic<phase> phase_{phase::launching};
  reply_mode reply_;        // how handled requests' callers are completed
  bool hooks_ran_ = false;  // the canceler's hooks ran
  std::optional<workers::canceler> canceler_;
  current_entry current_;

  std::uint64_t sleep_generation_ = 0;  // strand only, read under mutex_
  [[no_unique_address]] std::conditional_t<is_callback, read_demand, no_read_demand> demand_;
  asio::cancellation_signal reader_signal_;    // callback: cancels a pending read at close
  std::unique_ptr<asio::steady_timer> timer_;  // made for an idle timeout only
  std::unique_ptr<metrics_cells> metrics_;     // made if the table keeps metrics
  std::unique_ptr<alarm_state> alarm_;         // made if the launch set queue alarms
  worker_strand::work work_;                   // from launch to close
};

}  // namespace workers::inline v0::detail
