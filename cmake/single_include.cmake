# WORKERS_SINGLE_INCLUDE: the workers target takes its headers from single_include/, and include/
# is not on the path. The tests include a few opt-in headers by name (<workers/format.hpp>, ...):
# in this mode each public header's name is a generated one-line header that includes the single
# one, as a user who copied only workers.hpp would write `#include <workers/workers.hpp>` instead.

set(_forward_dir "${PROJECT_BINARY_DIR}/single_include_forward")
file(GLOB _public_headers RELATIVE "${PROJECT_SOURCE_DIR}/include/workers"
     "${PROJECT_SOURCE_DIR}/include/workers/*.hpp")
file(GLOB _amalgamated RELATIVE "${PROJECT_SOURCE_DIR}/single_include/workers"
     "${PROJECT_SOURCE_DIR}/single_include/workers/*.hpp")
foreach(_header IN LISTS _public_headers)
  if(NOT _header IN_LIST _amalgamated)
    file(CONFIGURE OUTPUT "${_forward_dir}/workers/${_header}"
         CONTENT "#pragma once\n#include <workers/workers.hpp>  // generated: WORKERS_SINGLE_INCLUDE\n")
  endif()
endforeach()
target_include_directories(
  workers INTERFACE "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/single_include>"
                    "$<BUILD_INTERFACE:${_forward_dir}>")
message(STATUS "workers: building against single_include/")
