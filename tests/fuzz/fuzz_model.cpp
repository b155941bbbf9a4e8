// libFuzzer target: decodes the input into an operation sequence (see
// test::model::decode) and runs it on the library and the reference model;
// any disagreement, crash, leak or sanitizer report is a finding.

#include "support/model.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto s = test::model::decode({data, size});
  if (auto why = test::model::check(s)) {
    std::fprintf(stderr, "model disagreement: %s\n  sequence: %s\n", why->c_str(),
                 test::model::describe(s).c_str());
    std::abort();
  }
  return 0;
}
