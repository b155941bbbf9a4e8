#pragma once

/// @file
/// @brief Workers fed by Redis Streams consumer groups (`redis::consume`),
/// producers that push to them (`redis::remote_table`), hiredis connections
/// run by Asio (`redis::hiredis_connector`) and the in-memory fake
/// (`redis::memory_broker`). Optional: the CMake target `workers::redis`
/// (`find_package(workers COMPONENTS redis)`) adds hiredis and Boost.JSON.

#include <workers/redis/codec.hpp>
#include <workers/redis/connection.hpp>
#include <workers/redis/consumer.hpp>
#include <workers/redis/hiredis.hpp>
#include <workers/redis/memory_broker.hpp>
#include <workers/redis/producer.hpp>
