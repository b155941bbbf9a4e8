// Include this instead of a Catch2 header: it works with Catch2 v3 and with the v2.13 that
// Debian 12 ships.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
