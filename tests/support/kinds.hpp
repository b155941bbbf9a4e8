#pragma once

// The four buffer kinds behind one interface, so that the contract tests are
// written once and run over each: how to make a table, submit a request
// without waiting, and (where the kind has callers) submit and wait.

#include "support/calc.hpp"

#include <memory>

namespace test {

template <class Kind>
struct kind_ops;

template <>
struct kind_ops<workers::queue<workers::infinite>> {
  static constexpr bool has_callers = true;
  static auto make_table() { return test::make_table(); }
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
  static auto make_table() { return make_bounded_table(1024); }
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
  static auto make_table() { return make_dropbox_table(); }
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
  static auto make_table() { return make_callback_table(); }
  static calc_parameters parameters(const asio::any_io_executor& ex) {
    return {.stream = std::make_shared<request_stream>(ex)};
  }
  template <class W, class R>
  static bool submit(const W& w, R r) {
    return w.parameters().stream->send(std::move(r));
  }
};

}  // namespace test
