#pragma once

// The library's macros: the namespace everything is declared in, and the
// attributes of its hot and cold paths.

// Everything is declared in the inline namespace `workers::v0`
// (WORKERS_VERSION_MAJOR), so that copies of different major versions cannot
// mix; code names it `workers::`. Spelled through macros, as fmt and
// asio-grpc do: Universal Ctags 5.9, and the editors and code navigation built
// on it, see no class or member inside `namespace workers::inline v0`.
#define WORKERS_BEGIN_NAMESPACE \
  namespace workers {           \
  inline namespace v0 {
#define WORKERS_END_NAMESPACE \
  }                           \
  }

// WORKERS_COLD marks a path taken rarely (an event someone listens to, an
// alarm): kept out of line, so the hot path around it stays small enough
// for the compiler to inline what it calls.
#if defined(__GNUC__) || defined(__clang__)
#define WORKERS_COLD [[gnu::cold, gnu::noinline]]
#else
#define WORKERS_COLD
#endif

// WORKERS_ALWAYS_INLINE marks a few-instruction function on every request's
// path (the clock read, the test whether anyone listens), which the
// compiler's size budget would otherwise call out of line in large callers.
#if defined(__GNUC__) || defined(__clang__)
#define WORKERS_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define WORKERS_ALWAYS_INLINE inline
#endif
