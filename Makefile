# Thin wrapper over CMake presets. `make check` and `make demo` work on a fresh Debian 12
# machine as root: they install missing packages first (scripts/install-deps.sh).
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: all deps build release check format format-check demo fuzz long bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS)

release: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

# Warnings as errors, formatting, then every test not labelled `long` under ASan + UBSan.
check: deps
	cmake --preset asan-ubsan -DVSR_WERROR=ON
	cmake --build --preset asan-ubsan -j $(JOBS)
	scripts/check-format.sh
	ctest --preset asan-ubsan -j $(JOBS) -LE long

# The long simulator sweeps (thousands of seeds), in an optimised build.
long: release
	ctest --preset release -j $(JOBS) -L long

demo: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target vsr
	scripts/demo.sh build/release/vsr

# Every fuzz target (tests/fuzz/targets.hpp) for FUZZ_SECONDS each, from the committed
# corpus; new inputs go to fuzz-corpus/<target>/ (copy a crash into tests/fuzz/corpus/).
FUZZ_TARGETS = tnetstring frame handshake sealed_frame message runtime_message client_table \
               metadata checkpoint wal_segment config_file app_operation
fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS) --target vsr_fuzzers
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz-corpus/$$t && \
	  build/fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) \
	    fuzz-corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

bench: release
	build/release/tests/bench/vsr_micro_bench

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	scripts/check-format.sh

clean:
	rm -rf build
