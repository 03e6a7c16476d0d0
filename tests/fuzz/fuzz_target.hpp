#pragma once
// What every fuzz target is: one function over arbitrary bytes that returns 0, and aborts
// (FUZZ_CHECK) when a property of the decoder it drives does not hold. A target never
// trusts its input; sanitizers catch what the properties do not.
//
// The same function runs in two builds:
//  - the `fuzz` preset (clang, libFuzzer): fuzz_main.cpp makes it the LLVMFuzzerTestOneInput
//    of the binary <name>_fuzz, and `make fuzz` mutates inputs from its corpus;
//  - every other build (`make check` under ASan + UBSan): the replay driver
//    (replay_test.cpp) runs it once over each file of tests/fuzz/corpus/<name>/ and over
//    seeds made from valid encodings (seeds.cpp), so a crash that was found once, and
//    saved to the corpus, stays fixed.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vsr::fuzz {

using Target = int (*)(const std::uint8_t* data, std::size_t size);

[[noreturn]] void property_violated(const char* target, const char* what);

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace vsr::fuzz

#define FUZZ_CHECK(target, cond)                                \
  do {                                                          \
    if (!(cond)) ::vsr::fuzz::property_violated(target, #cond); \
  } while (false)
