# Installs the build tree into a fresh prefix, for the find_package consumer test.
#   cmake -DBUILD_DIR=<dir> -DPREFIX=<prefix> -DCONFIG=<config> -P <this file>

file(REMOVE_RECURSE "${PREFIX}")

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${result})")
endif()
