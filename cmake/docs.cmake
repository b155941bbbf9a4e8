# The API reference, built by Doxygen from the public headers and the README:
#   cmake --build <build dir> --target docs    -> <build dir>/docs/html/index.html
# and the test docs.doxygen (label docs), which fails on any Doxygen warning (an undocumented
# public entity, a broken reference, a README construct Doxygen cannot read).
#
# Included by the top-level CMakeLists.txt after enable_testing(). Skipped, with a status
# message, when Doxygen 1.9.4 or newer (or sed, which the Doxyfile's input filters use) is not
# found; -DCMAKE_DISABLE_FIND_PACKAGE_Doxygen=ON skips it on purpose.

find_package(Doxygen 1.9.4 QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "workers: Doxygen >= 1.9.4 not found: no docs target, no docs.doxygen test")
  return()
endif()

# The Doxyfile filters the README through sed (see its FILTER_PATTERNS).
find_program(WORKERS_DOXYGEN_SED NAMES sed gsed DOC "sed, for the Doxyfile's input filters")
mark_as_advanced(WORKERS_DOXYGEN_SED)
if(NOT WORKERS_DOXYGEN_SED)
  message(STATUS "workers: sed not found: no docs target, no docs.doxygen test")
  return()
endif()

set(WORKERS_DOXYFILE "${PROJECT_BINARY_DIR}/docs/Doxyfile")
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${WORKERS_DOXYFILE}" @ONLY)

add_custom_target(
  docs
  COMMAND "${DOXYGEN_EXECUTABLE}" "${WORKERS_DOXYFILE}"
  WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/docs"
  COMMENT "Building the API reference: ${PROJECT_BINARY_DIR}/docs/html/index.html"
  VERBATIM)

# Doxygen itself, not the docs target: the test needs no build step, and its output is
# Doxygen's alone. WARN_AS_ERROR = FAIL_ON_WARNINGS makes the exit status non-zero on any
# warning; QUIET = YES leaves only warnings in the output, which the regular expression
# catches too (whatever a later Doxygen does with the exit status).
add_test(
  NAME docs.doxygen
  COMMAND "${DOXYGEN_EXECUTABLE}" "${WORKERS_DOXYFILE}"
  WORKING_DIRECTORY "${PROJECT_BINARY_DIR}/docs")
set_tests_properties(docs.doxygen PROPERTIES LABELS docs TIMEOUT 300
                                             FAIL_REGULAR_EXPRESSION "warning:;error:")
