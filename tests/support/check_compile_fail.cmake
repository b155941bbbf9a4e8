# Builds one compile-fail target and checks the outcome against the source's "// expect:" line.
#   cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DCONFIG=<config> -DSOURCE=<file> -P <this file>
# "// expect: COMPILES": the build must succeed.
# "// expect: <regex>":  the build must fail, and its output must match <regex>.
# "// errors: <n>" (optional): the compiler reports exactly <n> errors, so that the message the
# library wrote for the mistake is not followed by errors from inside the library.

foreach(var IN ITEMS BUILD_DIR TARGET SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_compile_fail.cmake: ${var} is not set")
  endif()
endforeach()

# Read here rather than passed on the command line, so any regex survives quoting.
file(STRINGS "${SOURCE}" expect_line REGEX "^// expect: " LIMIT_COUNT 1)
string(REGEX REPLACE "^// expect: *" "" expect "${expect_line}")
string(STRIP "${expect}" expect)
file(STRINGS "${SOURCE}" errors_line REGEX "^// errors: " LIMIT_COUNT 1)
string(REGEX REPLACE "^// errors: *" "" errors "${errors_line}")
string(STRIP "${errors}" errors)
if(expect STREQUAL "")
  message(FATAL_ERROR "${SOURCE}: missing a line '// expect: <regex>' (or '// expect: COMPILES')")
endif()

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(expect STREQUAL "COMPILES")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${TARGET} was expected to compile, but the build failed:\n${output}")
  endif()
  message(STATUS "${TARGET} compiles, as expected")
elseif(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must fail with a message matching: ${expect}")
elseif(NOT output MATCHES "${expect}")
  message(FATAL_ERROR "${TARGET} failed to compile, as expected, but no message matches: ${expect}\n"
                      "Build output:\n${output}")
else()
  if(NOT errors STREQUAL "")
    # GCC and Clang both print each error as "<file>:<line>:<column>: error: ...".
    string(REGEX MATCHALL ":[0-9]+:[0-9]+: error: " found "${output}")
    list(LENGTH found count)
    if(NOT count EQUAL errors)
      message(FATAL_ERROR "${TARGET} failed to compile with ${count} errors, expected ${errors}:\n"
                          "${output}")
    endif()
  endif()
  message(STATUS "${TARGET} fails to compile with a message matching: ${expect}")
endif()
