// Catch2 v2 only: v3 links its main from Catch2::Catch2WithMain (see tests/CMakeLists.txt).
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
