# A user who vendors one file: copies only single_include/workers/workers.hpp into an empty
# directory, and builds and runs the README's tour there with a plain compiler command (no CMake
# package, no include/).
#   cmake -DSOURCE_DIR=<workers> -DWORK_DIR=<empty dir> -DCXX=<compiler> -DCXX_FLAGS=<flags>
#         -P <this file>

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/workers")
file(COPY_FILE "${SOURCE_DIR}/single_include/workers/workers.hpp" "${WORK_DIR}/workers/workers.hpp")

file(READ "${SOURCE_DIR}/README.md" readme)
string(REGEX MATCH "<!-- tour:begin -->\n```cpp\n(.*)```\n<!-- tour:end -->" tour "${readme}")
if(NOT tour)
  message(FATAL_ERROR "README.md: the tour is missing")
endif()
file(WRITE "${WORK_DIR}/tour.cpp" "${CMAKE_MATCH_1}")

separate_arguments(flags UNIX_COMMAND "${CXX_FLAGS}")
set(command "${CXX}" -std=c++20 ${flags} -I. tour.cpp -o tour -lfmt -pthread)
list(JOIN command " " shown)
message(STATUS "${shown}")
execute_process(COMMAND ${command} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE built)
if(NOT built EQUAL 0)
  message(FATAL_ERROR "the tour does not build against the single header alone (${built})")
endif()
execute_process(COMMAND "${WORK_DIR}/tour" WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE ran)
if(NOT ran EQUAL 0)
  message(FATAL_ERROR "the tour built against the single header failed (${ran})")
endif()
