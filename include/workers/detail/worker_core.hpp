#pragma once

// What a worker handle holds: the part of a worker that does not depend on its
// handlers, made of parts, each in its file:
//
//   identity       name, parameters, table, configuration, strand, clocks (here)
//   lifecycle_     phase, close reason, completion waiters, canceler
//                  (worker_lifecycle.hpp); the close's steps are the handlers'
//                  side's (impl/close_sequence.hpp)
//   mailbox_       the requests, and how the loop waits for them (mailbox.hpp)
//   the books      events, metrics, alarms (worker_observer.hpp, a base)
//   state_, idle_  the state (strand only) and the idle timeout (idle_timer.hpp)
//
// and the entry points of everyone else: producers and introspection (any
// thread), the mailbox (`Host`, see mailbox.hpp), and the worker with its
// handlers (worker_impl.hpp), which implements `resume`, `continue_close` and
// `abandon`: called once per wake-up, close or death of the execution context,
// never per request.

#include <workers/buffer_kind.hpp>
#include <workers/canceler.hpp>
#include <workers/clock.hpp>
#include <workers/close_reason.hpp>
#include <workers/concepts.hpp>
#include <workers/detail/access.hpp>
#include <workers/detail/callback_mailbox.hpp>
#include <workers/detail/clock_seam.hpp>
#include <workers/detail/config.hpp>
#include <workers/detail/context_registry.hpp>
#include <workers/detail/control_lane.hpp>
#include <workers/detail/dropbox_mailbox.hpp>
#include <workers/detail/entry.hpp>
#include <workers/detail/hook_executor.hpp>
#include <workers/detail/idle_timer.hpp>
#include <workers/detail/lifecycle.hpp>
#include <workers/detail/mailbox.hpp>
#include <workers/detail/op_allocator.hpp>
#include <workers/detail/queue_mailbox.hpp>
#include <workers/detail/reply_chain.hpp>
#include <workers/detail/restart_limits.hpp>
#include <workers/detail/table_config.hpp>
#include <workers/detail/waiter_op.hpp>
#include <workers/detail/watchdog.hpp>
#include <workers/detail/worker_lifecycle.hpp>
#include <workers/detail/worker_observer.hpp>
#include <workers/detail/worker_strand.hpp>
#include <workers/error.hpp>
#include <workers/launch_options.hpp>
#include <workers/message_error.hpp>
#include <workers/metrics.hpp>
#include <workers/shutdown_report.hpp>
#include <workers/status.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/mp11/algorithm.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

WORKERS_BEGIN_NAMESPACE
template <class Def, class Kind>
class worker;

namespace detail {

namespace asio = boost::asio;

template <class Def, class Kind>
class table_state;

enum class wake_reason : std::uint8_t { ready, timed_out };

// The executor a worker handle shows: its strand, whose default completion
// token is `use_awaitable`, so that `co_await op(w, ...)` needs no token.
using worker_executor =
    asio::use_awaitable_t<>::executor_with_default<asio::strand<asio::any_io_executor>>;

template <class Def, class Kind>
class worker_core : public registered_worker,
                    public place_keeper,
                    public worker_observer<worker_core<Def, Kind>, Def>,
                    public std::enable_shared_from_this<worker_core<Def, Kind>> {
  using books = worker_observer<worker_core<Def, Kind>, Def>;

 public:
  using name_type = typename Def::name_type;
  using state_type = typename Def::state_type;
  using parameters_type = typename Def::parameters_type;
  using view_type = typename Def::request_view;
  using any_request = typename Def::request_variant;
  using entry_type = entry<Def>;
  using executor_type = worker_executor;
  using table_type = table_state<Def, Kind>;
  using config_type = table_config<Def, Kind>;
  using handle_type = worker<Def, Kind>;
  using mailbox_type = typename mailbox_for<Kind, Def, worker_core>::type;
  using leftovers = typename mailbox_type::leftovers;

  // Whether some request type of the group is a control request: only then
  // has the worker a control lane (control_lane.hpp), and a branch for it.
  template <class R>
  using controls = std::bool_constant<is_control_request<R>>;
  static constexpr bool has_control =
      boost::mp11::mp_any_of<typename Def::request_param::types, controls>::value;

  worker_core(worker_strand strand, name_type name, parameters_type parameters,
              std::weak_ptr<table_type> table, const launch_options& options,
              std::shared_ptr<const config_type> config)
      : books(config->metrics, checked_alarms(options, name)),
        strand_(std::move(strand)),
        name_(std::move(name)),
        parameters_(std::move(parameters)),
        table_(std::move(table)),
        config_(std::move(config)),
        seam_(config_->clock.get()),
        precise_stamps_(options.timeout || options.alarms || options.watchdog || config_->metrics),
        mailbox_(*this, capacity_of(config_->buffer), options.alarms || config_->metrics),
        lifecycle_(seam_.wall_now()),
        reply_(options.reply) {
    if (options.timeout)
      idle_ = std::make_unique<idle_timer>(
          std::chrono::duration_cast<steady_clock::duration>(*options.timeout), seam_.steady_now());
    if (options.watchdog) watchdog_ = std::make_unique<watchdog>(checked_watchdog(options, name_));
    if (options.restart.policy != restart_policy::temporary)
      restart_ = std::make_unique<supervised>(checked_restart(options, name_), *config_, this);
    extras_ =
        static_cast<std::uint8_t>((idle_ ? extra_idle : 0) | (this->alarmed() ? extra_alarms : 0) |
                                  (watchdog_ ? extra_watch : 0));
  }

  worker_core(const worker_core&) = delete;
  worker_core& operator=(const worker_core&) = delete;

  ~worker_core() {
    if (registry_) registry_->remove(*this);
  }

  // Identity: any thread.

  const name_type& name() const noexcept { return name_; }
  std::string full_name() const { return Def::full_name(name_); }
  const parameters_type& parameters() const noexcept { return parameters_; }
  const config_type& config() const noexcept { return *config_; }
  const clock_seam& seam() const noexcept { return seam_; }
  // The worker's strand. Throws once the execution context is gone: nothing can run there any more.
  executor_type executor() const {
    check_context();
    return executor_type(strand_.get());
  }
  // What a waiter completes on when its handler has no executor of its own:
  // the worker's strand, which it takes typed (see completion_work).
  struct strand_source {
    const worker_core* c;
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
    registry_->add(*this);
  }

  // Lifecycle: any thread.

  phase current_phase() const noexcept { return lifecycle_.current(); }
  bool is_shutting_down() const noexcept { return lifecycle_.refuses_work(); }
  worker_status status() const { return lifecycle_.status(); }
  shutdown_mode current_mode() const noexcept { return lifecycle_.mode(); }
  close_reason reason() const { return lifecycle_.reason(); }
  std::optional<error_list> crash_errors() const { return lifecycle_.crash_errors(); }

  // Starts closing for `cause` on `terms` (step 0 of the close,
  // impl/close_sequence.hpp): work is refused from now on, and the rest of
  // the close is posted to the strand. False if the worker was closing
  // already: `errors` are then added to its crash errors, and `terms` tighten
  // those of the close in progress (the strand applies them).
  //
  // A worker whose restart policy restarts it after `cause` begins a restart
  // instead (impl/restart_sequence.hpp): false too.
  bool request_close(close_cause cause, std::optional<error_list> errors = std::nullopt,
                     const close_terms& terms = {}) {
    const bool from_inside = inside_hook();
    switch (lifecycle_.begin_close(cause, std::move(errors), seam_.wall_now(), seam_.steady_now(),
                                   terms, restarts_after(cause))) {
      case close_request::unchanged:
        return false;
      case close_request::restarting:
        post_on_strand([self = hold()] { self->continue_restart(); });
        return false;
      case close_request::tightened:
        post_on_strand([self = hold(), from_inside] { self->continue_close(from_inside); });
        return false;
      case close_request::began:
        break;
    }
    if (cause == close_cause::shutdown || cause == close_cause::on_error_shutdown)
      this->note_triggering_shutdown();
    if (cause != close_cause::launch_failed)  // a failed launch closes on the spot
      post_on_strand([self = hold(), from_inside] { self->continue_close(from_inside); });
    return true;
  }
  // The terms of a shutdown in `mode` that may take `deadline` from now (any
  // thread): the deadline on the worker's steady clock, and as a wall time.
  close_terms terms_for(shutdown_mode mode, steady_clock::duration deadline) const {
    close_terms t{mode, std::nullopt, std::nullopt};
    if (deadline == no_deadline) return t;
    if (deadline < steady_clock::duration::zero()) deadline = steady_clock::duration::zero();
    const auto now = seam_.steady_now();
    if (deadline >= steady_clock::time_point::max() - now) return t;  // never, in practice
    t.deadline = now + deadline;
    t.deadline_wall = seam_.wall_of(*t.deadline, now);
    return t;
  }

  void add_crash_errors(error_list errors) { lifecycle_.add_crash_errors(std::move(errors)); }

  // Answers `w` (a waiter<error_code>, or <report_value>) once the worker has closed.
  void wait_closed(waiter_ptr w, bool with_report = false) {
    lifecycle_.wait_closed(std::move(w), with_report);
  }
  canceler_type get_canceler() { return lifecycle_.get_canceler(); }
  // Supervision (supervision.hpp): restarts begun so far, incarnations, why
  // the last incarnation ended.
  std::uint32_t restarts() const { return lifecycle_.restarts(); }
  std::size_t incarnations() const { return lifecycle_.incarnations(); }
  std::optional<close_reason> last_close_reason() const { return lifecycle_.last_close_reason(); }
  // Restarts with a worker of its table that ended (one_for_all, rest_for_one):
  // unless its policy is temporary, or it is not running.
  void restart_with_sibling() {
    if (restart_) request_close(close_cause::sibling_restart);
  }
  // Closes for good with a worker of its table that reached the shared limits.
  void close_with_sibling(error_list errors) {
    if (restart_) request_close(close_cause::restart_limit_reached, std::move(errors));
  }
  std::uint64_t launch_order = 0;  // set by the table (table_state.hpp), under its lock

  // Producers: any thread. The phase is read without the lock: a push that
  // races with the start of a close may still get in, until the close seals
  // the mailbox, and is then answered by the close.

  // Enqueues `e`, stamped with its push time (see mailbox.hpp, `push`). `e` and
  // `push_waiter` are left untouched unless queued or waiting.
  push_outcome push(entry_type& e, bool may_wait, waiter_ptr* push_waiter = nullptr) {
    if (lifecycle_.refuses_work()) return refuse(e);
    e.pushed = stamp_now();
    if constexpr (has_control)
      if (is_control_index(e.request.index())) [[unlikely]]
        return push_control(e);
    // Once queued, the request may be handled and its caller resumed, and the
    // worker may end, at once: nothing here may touch `this` after that.
    const auto o = this->alarmed()
                       ? alarmed_push([&] { return mailbox_.push(e, may_wait, push_waiter); })
                       : mailbox_.push(e, may_wait, push_waiter);
    if (o == push_outcome::abandoned) [[unlikely]]  // not queued
      this->note_cancelled(e);
    return o;
  }

  // Fire and forget: the entry is built in place, without a caller.
  template <class R>
  push_outcome push_now(R&& request) {
    if (lifecycle_.refuses_work()) {
      this->note_refused_view([&] { return view_type(Def::request_param::view(request)); });
      return push_outcome::sealed;
    }
    if constexpr (is_control_request<std::remove_cvref_t<R>>) {
      entry_type e(std::forward<R>(request), stamp_now());
      return push_control(e);
    }
    if (this->alarmed()) [[unlikely]]
      return alarmed_push([&] { return mailbox_.push_now(std::forward<R>(request), stamp_now()); });
    return mailbox_.push_now(std::forward<R>(request), stamp_now());
  }

  // A caller of a queued request gave up (any thread): its place is free.
  void release_place() noexcept override {
    try {
      leftovers out;
      mailbox_.release_place(out);
      settle(out);
    } catch (...) {  // out of memory: the place frees when the worker takes the request
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
    std::optional<active_request<view_type>> out;
    mailbox_.current([&](const entry_type& e, const view_type* moved) {
      out.emplace(active(e, moved, seam_.steady_now()));
    });
    return out;
  }
  std::vector<pending_request<view_type>> pending_requests() const {
    std::vector<pending_request<view_type>> out;
    const auto now = seam_.steady_now();
    list_control(out, now);
    mailbox_.for_each_pending([&](const entry_type& e, steady_clock::time_point pushed) {
      out.push_back({seam_.wall_of(pushed, now), Def::view_of(e.request)});
    });
    return out;
  }
  std::size_t pending_requests_length() const { return mailbox_.size() + control_waiting(); }
  // Status, pending requests and the current request: the status first, then
  // the mailbox under its lock, in one sweep.
  worker_full_status<view_type> full_status_snapshot() const {
    worker_full_status<view_type> out;
    out.status = lifecycle_.status();
    const auto now = seam_.steady_now();
    list_control(out.pending_requests, now);
    mailbox_.survey(
        [&](const entry_type& e, steady_clock::time_point pushed) {
          out.pending_requests.push_back({seam_.wall_of(pushed, now), Def::view_of(e.request)});
        },
        [&](const entry_type& e, const view_type* moved) {
          out.current_request.emplace(active(e, moved, now));
        });
    return out;
  }
  std::optional<worker_metrics> metrics_snapshot() const {
    if (!this->measures_service()) return std::nullopt;
    const std::size_t length = mailbox_.size() + control_waiting();
    const bool in_flight = mailbox_.current([](const entry_type&, const view_type*) {});
    return books::metrics_snapshot(length, in_flight ? 1 : 0);
  }

  // The control lane (control_lane.hpp): control requests first.

  // The strand: the next request to handle, control ones first (see
  // mailbox.hpp, `take`).
  WORKERS_ALWAYS_INLINE entry_type* take_next(leftovers& out) {
    if constexpr (has_control)
      if (control_.ready()) [[unlikely]]
        if (entry_type* e = take_control()) return e;
    return mailbox_.take(out);
  }
  // Whether a control request waits (the loop checks it after it parked).
  bool control_ready() const noexcept {
    if constexpr (has_control)
      return control_.ready();
    else
      return false;
  }
  std::size_t control_waiting() const noexcept {
    if constexpr (has_control)
      return control_.size();
    else
      return 0;
  }
  // The close, step 2: what waits in the lane is answered `closed` (abandoned
  // if the context is gone), as the mailbox's leftovers are.
  void seal_control(bool abandon) {
    if constexpr (has_control) {
      std::vector<typename control_lane<entry_type>::entry_ptr> out;
      control_.seal(out);
      if (out.empty()) return;
      std::optional<worker_closed> why;
      const auto closed = [&]() -> const worker_closed& {
        if (!why) why.emplace(worker_closed{crash_errors()});
        return *why;
      };
      for (auto& n : out) settle_unqueued(n->entry, {}, abandon, closed);
    } else {
      (void)abandon;
    }
  }
  // The close ended: the control request handled last goes.
  void end_control() {
    if constexpr (has_control) {
      typename control_lane<entry_type>::entry_ptr retired;
      mailbox_.release_current();
      control_.ended(retired);
    }
  }

  // State: the worker's strand only.

  state_type* state_ptr() noexcept { return state_ ? &*state_ : nullptr; }
  state_type& state_checked() {
    // One test for the phases with a state, running and closing (1 and 3):
    // this runs at every `state(self)` of a handler.
    static_assert(static_cast<int>(phase::running) == 1 && static_cast<int>(phase::closing) == 3);
    if ((static_cast<int>(current_phase()) | 2) != 3) [[unlikely]]
      no_state(current_phase());
    if (!on_strand())
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested outside its strand; use with_state");
    if (!state_)
      throw std::logic_error("workers: state of worker " + full_name() +
                             " requested, but its launch did not give one");
    return *state_;
  }
  WORKERS_COLD [[noreturn]] void no_state(phase p) const {
    const char* when = p == phase::launching    ? " before its launch completed"
                       : p == phase::restarting ? " while it restarts: it has none until its next "
                                                  "on_launch"
                                                : " after it closed";
    throw std::logic_error("workers: state of worker " + full_name() + " requested" + when);
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

  // What the mailbox asks of its worker (see mailbox.hpp).

  mailbox_type& mailbox() noexcept { return mailbox_; }
  const mailbox_type& mailbox() const noexcept { return mailbox_; }
  std::shared_ptr<worker_core> hold() noexcept { return this->shared_from_this(); }
  // A push ended the loop's park: the loop runs again.
  void wake(std::shared_ptr<worker_core> keep) {
    strand_.post([self = std::move(keep)] { self->resume(wake_reason::ready); });
  }
  // Runs `f(*keep)` on the strand.
  template <class F>
  void post_with(std::shared_ptr<worker_core> keep, F f) {
    strand_.post([self = std::move(keep), f = std::move(f)] { f(*self); });
  }
  handle_type self() { return access::make_worker<handle_type>(hold()); }
  WORKERS_ALWAYS_INLINE steady_clock::time_point steady_now() const noexcept {
    return seam_.steady_now();
  }
  // The handlers read request statuses: they are measured (see stamp_now).
  void stamp_precisely() noexcept { precise_stamps_ = true; }
  // A request's push or take time. Precise when something measures the worker's
  // requests (metrics, queue alarms, an idle timeout, status hooks, a sink of
  // debug events); else of the kernel tick's resolution, which is what a person
  // reading introspection needs, at a sixth of the cost (clock_seam.hpp).
  WORKERS_ALWAYS_INLINE steady_clock::time_point stamp_now() const noexcept {
    return seam_.stamp_now(precise_stamps_ || this->wants(level::debug));
  }
  bool closing() const noexcept { return is_shutting_down(); }
  // Restarting, or closing and not in a drain: the loop takes nothing more.
  bool takes_no_more() const noexcept {
    const phase p = current_phase();
    return p == phase::restarting ||
           (detail::refuses_work(p) && current_mode() != shutdown_mode::drain);
  }
  // The loop stops: the worker restarts or closes (run_loop.hpp).
  WORKERS_ALWAYS_INLINE bool stops_loop() const noexcept {
    return current_phase() >= phase::restarting;
  }
  bool is_restarting() const noexcept { return current_phase() == phase::restarting; }
  // A dropbox merges puts into its slot while the worker runs or restarts.
  bool merges() const noexcept {
    const phase p = current_phase();
    return p == phase::running || p == phase::restarting;
  }
  // A handler, merge or read threw `what`: the worker crashes.
  void crash(const char* where, const std::exception_ptr& what) { crash(where, describe(what)); }
  void crash(const char* where, const std::string& text) {
    this->note_handler_threw(where, text);
    request_close(close_cause::handler_exception,
                  error_list{fmt::format("{} threw: {}", where, text)});
  }
  void end_of_source() { request_close(close_cause::end_of_source); }
  // A push that the close refused (the mailbox was sealed meanwhile).
  WORKERS_COLD void note_refused(const entry_type& e) {
    this->note_refused_view([&] { return Def::view_of(e.request); });
  }
  void push_read(any_request&& request) {
    entry_type e{std::move(request), {}, {}};
    push(e, false);
  }
  asio::strand<asio::any_io_executor> strand() const { return strand_.get(); }
  bool has_strand() const noexcept { return strand_.valid(); }
  // The executor of the worker's coroutines (see hook_executor.hpp).
  asio::any_io_executor hook_executor() const { return strand_.hook_executor(); }

  std::shared_ptr<registered_worker> keep_alive() noexcept override {
    return this->weak_from_this().lock();
  }

 protected:
  // Implemented by the worker with its handlers, on the strand.
  // A wake-up: the loop runs (a push, the idle timeout).
  virtual void resume(wake_reason why) = 0;
  // The close's steps after the first, posted by request_close.
  virtual void continue_close(bool from_inside) = 0;
  // A restart began (impl/restart_sequence.hpp), posted by request_close.
  virtual void continue_restart() = 0;

  // Worker side: the strand only.

  // Whether handled requests' callers are completed with dispatch semantics.
  bool dispatches_replies() const noexcept { return reply_ == reply_mode::dispatch; }

  // A launched worker counts as outstanding work of its execution context, as
  // a pending operation does: run() does not return while it may get requests.
  void hold_work() { work_ = strand_.track(); }
  void drop_work() noexcept { work_ = std::monostate{}; }

  // The launch gave the state: running, unless a close began meanwhile.
  void set_running(state_type&& state) {
    state_.emplace(std::move(state));
    lifecycle_.launched(seam_.wall_now());
  }
  void drop_state() noexcept { state_.reset(); }

  // Posts `f` to the strand, if there is one (not once the context is gone).
  template <class F>
  void post_on_strand(F&& f) noexcept {
    try {
      if (strand_.valid()) strand_.post(std::forward<F>(f));
    } catch (...) {  // out of memory: the loop's next turn runs the close
    }
  }

  // Answers and counts what a mailbox's step left (see leftovers.hpp):
  // producers let in are answered `true`; a request or producer that left
  // unqueued is `cancelled` if every caller had given up, else `dropped` and
  // answered `closed` (with the crash errors). `abandon`: the context is gone,
  // callers are abandoned instead.
  WORKERS_ALWAYS_INLINE void settle(leftovers& out, bool abandon = false) {
    if (out.get()) [[unlikely]]
      settle_leftovers(out, abandon);
  }
  // The context died with `e` in hand: its callers are abandoned, and its
  // outcome counted (cancelled if they had all given up, else dropped).
  void settle_abandoned(entry_type& e) {
    settle_unqueued(e, {}, true, [] { return worker_closed{}; });
  }

 private:
  WORKERS_COLD void settle_leftovers(leftovers& out, bool abandon) {
    auto* c = out.get();
    for (auto& w : c->admitted) typed<error_code>(w)->answer(error_code{});
    std::optional<worker_closed> why;
    const auto closed = [&]() -> const worker_closed& {
      if (!why) why.emplace(worker_closed{crash_errors()});
      return *why;
    };
    for (auto& e : c->entries) settle_unqueued(e, {}, abandon, closed);
    for (auto& b : c->blocked) settle_unqueued(b.entry, b.push, abandon, closed);
    if (c->wake) wake(hold());
  }

 protected:
  // The idle timeout (launch_options::timeout), if any.
  std::unique_ptr<idle_timer>& timeout() noexcept { return idle_; }
  void stop_timer() noexcept {
    if (idle_) idle_->cancel();
  }
  // The watchdog (launch_options::watchdog), if any.
  std::unique_ptr<watchdog>& watch() noexcept { return watchdog_; }

  // Supervision (launch_options::restart): the policy, the limits it counts
  // against (its own, or its table's under one_for_all and rest_for_one),
  // its backoff; null for a temporary worker.
  struct supervised {
    supervised(const restart_options& o, const config_type& config, const void* seed)
        : options(o),
          strategy(config.supervision.strategy),
          limits(config.group_limits ? config.group_limits
                                     : std::make_shared<restart_limits>(o.intensity, o.period)),
          delay(reinterpret_cast<std::uintptr_t>(seed)) {}
    restart_options options;
    supervision_strategy strategy;
    std::shared_ptr<restart_limits> limits;
    restart_delay delay;
    std::unique_ptr<time_source::timer> timer;  // the backoff's, once needed
  };
  std::unique_ptr<supervised>& supervision() noexcept { return restart_; }
  // The table's workers that restart (or close) with this one, by its strategy.
  std::vector<std::shared_ptr<worker_core>> restarted_with() const {
    auto table = table_.lock();
    if (!restart_ || restart_->strategy == supervision_strategy::one_for_one || !table) return {};
    return table->restarted_with(this, restart_->strategy);
  }

  // What the loop does at each take beyond taking (one test, strand only):
  // an idle timeout, queue alarms, a watchdog.
  enum extra : std::uint8_t { extra_idle = 1, extra_alarms = 2, extra_watch = 4 };
  WORKERS_ALWAYS_INLINE bool has_extras() const noexcept { return extras_ != 0; }
  WORKERS_ALWAYS_INLINE bool watches() const noexcept { return (extras_ & extra_watch) != 0; }

  // Steps 4 and 6 of the close, the parts that need no handler: the worker
  // leaves its table, the canceler's hooks run.
  void leave_table() {
    if (auto table = table_.lock()) table->erase(name_, this);
  }
  void run_canceler_hooks() {
    if (auto hooks = lifecycle_.take_canceler_hooks()) add_crash_errors(access::cancel(*hooks));
  }
  worker_lifecycle& lifecycle() noexcept { return lifecycle_; }
  const worker_lifecycle& lifecycle() const noexcept { return lifecycle_; }

  // What the close did so far, for its report (the strand).
  struct close_tally {
    std::size_t handled = 0;
    std::size_t answered_closed = 0;
    bool cut = false;
    bool expired = false;
  };
  close_tally& tally() noexcept { return tally_; }
  // The report of the close, at its end.
  shutdown_report report(steady_clock::time_point now) const {
    shutdown_report r;
    r.asked = lifecycle_.asked();
    r.reached = lifecycle_.mode();
    r.handled = tally_.handled;
    r.answered_closed = tally_.answered_closed;
    r.handler_cut = tally_.cut;
    r.deadline_expired = tally_.expired;
    r.took = std::chrono::duration_cast<clock::duration>(now - lifecycle_.began());
    return r;
  }
  // After the context died: nothing may refer to it any more.
  void drop_strand() noexcept { strand_.reset(); }

  // What introspection shows of the request being handled (`moved`: its view,
  // kept when its handler took it by value).
  active_request<view_type> active(const entry_type& e, const view_type* moved,
                                   steady_clock::time_point now) const {
    return {seam_.wall_of(e.pushed, now), seam_.wall_of(e.treated, now),
            moved ? *moved : Def::view_of(e.request)};
  }
  request_status status_of(const entry_type& e) const {
    const auto now = seam_.steady_now();
    return {seam_.wall_of(e.pushed, now),
            std::chrono::duration_cast<clock::duration>(e.treated - e.pushed),
            std::chrono::duration_cast<clock::duration>(now - e.treated)};
  }

 private:
  static std::optional<queue_alarms> checked_alarms(const launch_options& options,
                                                    const name_type& name) {
    if (options.alarms && options.alarms->low > options.alarms->high)
      throw std::invalid_argument(fmt::format(
          "workers: queue alarms of worker {}: low watermark {} above high watermark {}",
          Def::full_name(name), options.alarms->low, options.alarms->high));
    return options.alarms;
  }

  // Whether the restart policy restarts the worker after `cause`.
  bool restarts_after(close_cause cause) const noexcept {
    if (!restart_) return false;
    switch (cause) {
      case close_cause::handler_exception:  // a crash: transient and permanent
      case close_cause::crash:
      case close_cause::sibling_restart:  // the table's strategy
        return true;
      case close_cause::on_error_shutdown:  // an end that is not a shutdown: permanent
      case close_cause::end_of_source:
        return restart_->options.policy == restart_policy::permanent;
      default:  // a shutdown, a failed first launch, the limits, the context's end
        return false;
    }
  }

  static restart_options checked_restart(const launch_options& options, const name_type& name) {
    const auto& r = options.restart;
    const auto zero = steady_clock::duration::zero();
    const bool backoff_ok =
        !r.backoff || (r.backoff->min >= zero && r.backoff->min <= r.backoff->max &&
                       r.backoff->jitter >= 0 && r.backoff->jitter <= 1);
    if (r.period <= zero || !backoff_ok)
      throw std::invalid_argument(fmt::format(
          "workers: restart options of worker {}: the period must be positive, the backoff's min "
          "between 0 and its max, and its jitter between 0 and 1",
          Def::full_name(name)));
    return r;
  }

  static watchdog_budgets checked_watchdog(const launch_options& options, const name_type& name) {
    const auto& b = *options.watchdog;
    const auto zero = steady_clock::duration::zero();
    if ((b.slow && *b.slow <= zero) || (b.stuck && *b.stuck <= zero) || b.grace < zero)
      throw std::invalid_argument(fmt::format(
          "workers: watchdog of worker {}: its budgets must be positive and its grace not negative",
          Def::full_name(name)));
    return b;
  }

  // A push to a worker with queue alarms checks its length once queued, so it
  // holds the worker across the push (see `push`).
  template <class Push>
  WORKERS_COLD push_outcome alarmed_push(Push&& push) {
    const auto keep = hold();
    const auto o = push();
    if (o == push_outcome::queued) keep->check_alarm_on_push();
    return o;
  }

  // Whether the alternative at `index` of the request variant is a control request.
  static constexpr bool is_control_index(std::size_t index) noexcept {
    constexpr auto table = [] {
      using types = typename Def::request_param::types;
      std::array<bool, boost::mp11::mp_size<types>::value> t{};
      boost::mp11::mp_for_each<boost::mp11::mp_iota_c<t.size()>>(
          [&](auto i) { t[i] = is_control_request<boost::mp11::mp_at_c<types, i>>; });
      return t;
    }();
    return table[index];
  }

  // A control request, any thread: into the lane, ending the loop's park; it
  // never waits for room and is never merged.
  WORKERS_COLD push_outcome push_control(entry_type& e) {
    auto keep = hold();                       // once queued, the worker may end before this returns
    if (!control_.push(e)) return refuse(e);  // the close sealed the lane
    if (keep->mailbox_.unpark()) keep->wake(keep);
    return push_outcome::queued;
  }
  // The strand: the oldest control request, its callers started; one whose
  // callers all gave up is skipped (counted `cancelled`).
  WORKERS_COLD entry_type* take_control() {
    for (;;) {
      typename control_lane<entry_type>::entry_ptr retired;
      mailbox_.release_current();  // the one in hand before may be retired
      entry_type* e = control_.take(retired);
      retired.reset();
      if (!e) return nullptr;
      if (e->reply && !start_chain(e->reply)) {
        this->note_cancelled(*e);
        continue;
      }
      return e;
    }
  }
  template <class Out>
  void list_control(Out& out, steady_clock::time_point now) const {
    if constexpr (has_control)
      control_.for_each_pending([&](const entry_type& e) {
        out.push_back({seam_.wall_of(e.pushed, now), Def::view_of(e.request), true});
      });
  }

  WORKERS_COLD push_outcome refuse(const entry_type& e) {
    note_refused(e);
    return push_outcome::sealed;
  }

  template <class Closed>
  void settle_unqueued(entry_type& e, const waiter_ptr& push, bool abandon, const Closed& closed) {
    const bool gave_up = push ? push->gave_up() : (e.reply && !chain_wanted(e.reply));
    if (gave_up) {
      this->note_cancelled(e);
      return;
    }
    if (abandon) {  // nobody is answered any more
      abandon_chain(std::move(e.reply));
      if (push) push->abandon();
      this->note_dropped(e);
      return;
    }
    this->note_dropped(e);
    ++tally_.answered_closed;
    answer_error(e, closed());
    if (push) typed<error_code>(push)->answer(make_error_code(errc::closed));
  }

  void check_context() const {
    if (!strand_.valid())
      throw std::logic_error("workers: the execution context of worker " + full_name() +
                             " was destroyed");
  }

  worker_strand strand_;  // reset when the execution context is destroyed
  name_type name_;
  parameters_type parameters_;
  std::weak_ptr<table_type> table_;
  std::shared_ptr<const config_type> config_;  // shared with the table
  clock_seam seam_;
  bool precise_stamps_;  // see stamp_now
  std::optional<state_type> state_;
  mailbox_type mailbox_;
  // What neither the worker nor a producer reads for each request: a queue's
  // intake word ends the mailbox, and a producer's CAS on it must not steal a
  // line the worker reads each time.
  worker_lifecycle lifecycle_;
  std::shared_ptr<worker_registry> registry_;
  std::unique_ptr<idle_timer> idle_;     // made for an idle timeout only
  std::unique_ptr<watchdog> watchdog_;   // made for a watchdog only
  std::unique_ptr<supervised> restart_;  // made for a restart policy only
  worker_strand::work work_;             // from launch to close
  close_tally tally_;                    // see tally()
  std::uint8_t extras_ = 0;              // see has_extras()
  [[no_unique_address]] std::conditional_t<has_control, control_lane<entry_type>, no_control_lane>
      control_;
  reply_mode reply_;  // how handled requests' callers are completed
};

}  // namespace detail
WORKERS_END_NAMESPACE
