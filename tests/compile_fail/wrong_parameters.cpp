// expect: launch's parameters must convert to the group's Types::parameters_type
// errors: 1
// Launch parameters of the wrong type: one sentence, not "no matching function".
#include "group.hpp"

int main() {
  boost::asio::io_context io;
  auto table = cf_group::create_table(workers::infinite_queue{});
  workers::launch(table, io, "x", std::string("not an int"), cf_handlers{}, [](auto) {});
}
