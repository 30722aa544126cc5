# SPDX-License-Identifier: GPL-2.0
# refdax: the make targets are the user interface; scripts/ holds the logic.
#
#   make run [CMD='...']   set up, build, boot the guest (a shell, the demo, or CMD)
#   make test              set up, check, build, boot the guest and run every test
#   make check             rustfmt --check and a CLIPPY=1 build of the module, no warnings
#   make bench             the bench kernel: refdax vs ext4 -o dax, xfs -o dax, device-dax, tmpfs, anon
#   make shim-bindings     regenerate rust/*/bindings.rs from rust/refdax_shim.h and include/uapi
#   make module | kernel | selftests | setup | clean | distclean

# When the kernel build calls back into this directory, Kbuild (not this file) is read.
FLAVOUR        ?= test
CMD            ?=
NVDIMM_SIZE    ?= 2G
NVDIMM0_SIZE   ?= $(NVDIMM_SIZE)
NVDIMM1_SIZE   ?= $(NVDIMM_SIZE)
NVDIMM2_SIZE   ?= 0
BENCH_RUNS     ?= 5
REFDAX_CACHE   ?= /var/cache/refdax
KERNEL_PATCHES ?= all
TIMEOUT        ?= 2400
GUEST_MEM      ?= 2G

# CMD reaches the guest unexpanded ($$VAR and $$? are the guest shell's), so it is not
# exported by make (which would expand it) but passed quoted.
unexport CMD
export FLAVOUR NVDIMM0_SIZE NVDIMM1_SIZE REFDAX_CACHE KERNEL_PATCHES TIMEOUT GUEST_MEM

S := scripts

.PHONY: all setup kernel module selftests check shim-bindings run test bench clean distclean

all: module selftests

setup:
	@$(S)/setup-host.sh

kernel: setup
	@$(S)/kernel.sh build $(FLAVOUR)

module: kernel
	@$(S)/build-module.sh

selftests: kernel
	@$(S)/build-selftests.sh

check: kernel
	@$(S)/check.sh

shim-bindings: kernel
	@$(S)/gen-shim-bindings.sh rust/abstractions/ffi/bindings.rs rust/uapi/bindings.rs

# Always the bench kernel, with a third and fourth NVDIMM; results and chart in build/bench/.
bench:
	@$(MAKE) --no-print-directory FLAVOUR=bench module selftests
	@mkdir -p build/bench
	@$(CC) -O2 -Wall -Wextra -o build/bench/refdax_bench tools/refdax-bench/refdax_bench.c -lpthread
	@FLAVOUR=bench NVDIMM2_SIZE=$(if $(filter 0,$(NVDIMM2_SIZE)),2G,$(NVDIMM2_SIZE)) NVDIMM3_SIZE=2G \
		CMD='BENCH_RUNS=$(BENCH_RUNS) "$$REFDAX_TOP"/qemu/guest/bench.sh' $(S)/run-guest.sh run
	@cp build/guest/bench.json build/guest/bench.txt build/bench/
	@python3 $(S)/bench-chart.py build/bench/bench.json build/bench/bench.svg
	@echo "refdax: results in build/bench/bench.txt, bench.json and bench.svg"

run: module selftests
	@CMD='$(subst ','\'',$(value CMD))' $(S)/run-guest.sh run

test: check module selftests
	@$(S)/test.sh

clean:
	rm -rf build

distclean: clean
	@echo "removing the cache $(REFDAX_CACHE) (toolchain pieces, kernel source and builds)"
	rm -rf $(REFDAX_CACHE)
