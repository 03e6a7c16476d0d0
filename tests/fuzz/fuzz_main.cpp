// libFuzzer's entry point for one target: compiled once per fuzz binary, with
// VSR_FUZZ_TARGET naming the function of targets.hpp that it runs.

#include "targets.hpp"

#ifndef VSR_FUZZ_TARGET
#error "VSR_FUZZ_TARGET names the target function"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return vsr::fuzz::VSR_FUZZ_TARGET(data, size);
}
