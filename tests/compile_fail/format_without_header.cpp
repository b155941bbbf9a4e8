// expect: include <workers/format.hpp> to format
// errors: 1
// needs: separate headers
// Formatting one of the library's types without its formatters' header says which header.
#include "group.hpp"

#include <fmt/format.h>

int main() {
  cf_worker w;
  return fmt::format("{}", workers::status(w)).empty() ? 1 : 0;
}
