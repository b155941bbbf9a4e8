#pragma once

// A worker's life, one state at a time:
//
//   launching ──► running ──► closing ──► closed
//       └──────────────────────►┘
//   launching, running, closing ──► abandoned   (its execution context died)
//
// `core::transition` is the only place the state changes; it checks the edge.
// A close that begins during the launch goes launching → closing; the launch
// then completes (with the worker if on_launch gave a state, else with an
// error) and the close goes on from there.

#include <workers/close_reason.hpp>
#include <workers/status.hpp>

#include <cstdint>

namespace workers::inline v0::detail {

enum class phase : std::uint8_t { launching, running, closing, closed, abandoned };

constexpr bool legal_transition(phase from, phase to) noexcept {
  switch (to) {
    case phase::running:
      return from == phase::launching;
    case phase::closing:
      return from == phase::launching || from == phase::running;
    case phase::closed:
      return from == phase::closing;
    case phase::abandoned:
      return from == phase::launching || from == phase::running || from == phase::closing;
    case phase::launching:
      break;
  }
  return false;
}

// Pushes are refused from closing on.
constexpr bool refuses_work(phase p) noexcept { return p >= phase::closing; }
// Nothing more will happen to the worker.
constexpr bool has_ended(phase p) noexcept { return p == phase::closed || p == phase::abandoned; }

// The status a phase shows (an abandoned worker shows as closed, with its crash errors).
inline worker_status status_of(phase p, clock::time_point born, clock::time_point since,
                               const std::optional<close_reason>& reason) {
  switch (p) {
    case phase::launching:
      return launching{since};
    case phase::running:
      return running{since};
    case phase::closing:
      return closing{born, since};
    case phase::closed:
    case phase::abandoned:
      break;
  }
  return closed{born, since, reason ? reason->crash_errors : std::nullopt};
}

}  // namespace workers::inline v0::detail
