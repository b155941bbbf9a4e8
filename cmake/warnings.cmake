# Warning flags for the project's own programs (tests, examples, benchmarks).
# The library target never carries them, so users keep their own flags.
# Subdirectories may include this file again; it defines the target once.
include_guard(GLOBAL)

option(WORKERS_WARNINGS_AS_ERRORS "Treat warnings in tests, examples and benchmarks as errors" ON)

add_library(workers_warnings INTERFACE)
target_compile_options(
  workers_warnings
  INTERFACE $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall -Wextra -Wpedantic>
            $<$<AND:$<CXX_COMPILER_ID:GNU,Clang,AppleClang>,$<BOOL:${WORKERS_WARNINGS_AS_ERRORS}>>:-Werror>
            # GCC 12 flags Asio's own awaitable frame allocator (operator new/delete pair of
            # awaitable_frame_base) as mismatched: a false positive in code we do not own.
            $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
            $<$<CXX_COMPILER_ID:MSVC>:/W4 /permissive->
            $<$<AND:$<CXX_COMPILER_ID:MSVC>,$<BOOL:${WORKERS_WARNINGS_AS_ERRORS}>>:/WX>)
