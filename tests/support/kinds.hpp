#pragma once

// The four buffer kinds behind one interface, so that the contract tests are
// written once and run over each: how to make a table, submit a request
// without waiting, and (where the kind has callers) submit and wait.

#include "support/calc.hpp"

#include <fmt/format.h>

#include <memory>
#include <stdexcept>

namespace test {

// The four kinds, as the template test cases name them.
using infinite_kind = workers::queue<workers::infinite>;
using bounded_kind = workers::queue<workers::bounded>;
using workers::callback;
using workers::dropbox;

template <class Kind>
struct kind_ops;

template <>
struct kind_ops<workers::queue<workers::infinite>> {
  static constexpr bool has_callers = true;
  static auto make_table(workers::table_options o = {}) { return test::make_table(std::move(o)); }
  static calc_parameters parameters(const asio::any_io_executor&) { return {}; }
  template <class W, class R>
  static bool submit(const W& w, R r) {
    return workers::push_request_now(w, std::move(r));
  }
  template <class W, class R, class Token>
  static auto submit_and_wait(const W& w, R r, Token&& token) {
    return workers::push_request_and_wait(w, std::move(r), std::forward<Token>(token));
  }
};

// A bounded queue with room for the tests' bursts.
template <>
struct kind_ops<workers::queue<workers::bounded>> {
  static constexpr bool has_callers = true;
  static auto make_table(workers::table_options o = {}) {
    return make_bounded_table(1024, std::move(o));
  }
  static calc_parameters parameters(const asio::any_io_executor&) { return {}; }
  template <class W, class R>
  static bool submit(const W& w, R r) {
    return workers::try_push_request_now(w, std::move(r));
  }
  template <class W, class R, class Token>
  static auto submit_and_wait(const W& w, R r, Token&& token) {
    return workers::push_request_and_wait(w, std::move(r), std::forward<Token>(token));
  }
};

template <>
struct kind_ops<workers::dropbox> {
  static constexpr bool has_callers = true;
  static auto make_table(workers::table_options o = {}) { return make_dropbox_table(std::move(o)); }
  static calc_parameters parameters(const asio::any_io_executor&) { return {}; }
  template <class W, class R>
  static bool submit(const W& w, R r) {
    return workers::put_request(w, std::move(r));
  }
  template <class W, class R, class Token>
  static auto submit_and_wait(const W& w, R r, Token&& token) {
    return workers::put_request_and_wait(w, std::move(r), std::forward<Token>(token));
  }
};

// A callback worker has no callers: requests reach it through its stream.
template <>
struct kind_ops<workers::callback> {
  static constexpr bool has_callers = false;
  static auto make_table(workers::table_options o = {}) {
    return make_callback_table(std::move(o));
  }
  static calc_parameters parameters(const asio::any_io_executor& ex) {
    return {.stream = std::make_shared<request_stream>(ex)};
  }
  template <class W, class R>
  static bool submit(const W& w, R r) {
    return w.parameters().stream->send(std::move(r));
  }
};

// Completes once everything submitted before has been handled: a request of
// its own, answered (kinds with callers), or a hold the worker has entered.
template <class Kind, class W>
asio::awaitable<void> settle(const W& w) {
  if constexpr (kind_ops<Kind>::has_callers) {
    add zero{0};  // named: see README, "Compilers"
    auto r = co_await kind_ops<Kind>::submit_and_wait(w, zero, asio::use_awaitable);
    if (!r) throw std::runtime_error(fmt::format("settle: {}", r.error()));
  } else {
    busy_gate gate(co_await asio::this_coro::executor);
    kind_ops<Kind>::submit(w, gate.request());
    co_await gate.entered();
    gate.open();
  }
}

}  // namespace test
