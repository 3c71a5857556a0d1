# halfpipe — see README.md.  `make run`, `make test`.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE
PYTHON  := /usr/bin/python3

SRCS    := $(wildcard src/*.c)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
UNITS   := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c))

# Two builds side by side: build/ (plain) and build-asan/ (ASan+UBSan).
B       := build
BA      := build-asan
ASAN    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all asan units deps run test test-asan fuzz bench clean
all: $(B)/halfpipe

$(B)/%.o: src/%.c $(wildcard src/*.h) | $(B)
	$(CC) $(CFLAGS) $(WARN) -c -o $@ $<
$(BA)/%.o: src/%.c $(wildcard src/*.h) | $(BA)
	$(CC) $(ASAN) $(WARN) -c -o $@ $<
$(B) $(BA):
	mkdir -p $@

$(B)/halfpipe: $(SRCS:src/%.c=$(B)/%.o)
	$(CC) $(CFLAGS) -o $@ $^ -lseccomp -lpthread
$(BA)/halfpipe: $(SRCS:src/%.c=$(BA)/%.o)
	$(CC) $(ASAN) -o $@ $^ -lseccomp -lpthread

$(B)/t_%: tests/unit/t_%.c tests/unit/test.h $(LIBSRCS:src/%.c=$(B)/%.o)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ $< $(LIBSRCS:src/%.c=$(B)/%.o) -lseccomp -lpthread
$(BA)/t_%: tests/unit/t_%.c tests/unit/test.h $(LIBSRCS:src/%.c=$(BA)/%.o)
	$(CC) $(ASAN) $(WARN) -Isrc -o $@ $< $(LIBSRCS:src/%.c=$(BA)/%.o) -lseccomp -lpthread

asan: $(BA)/halfpipe
units: $(UNITS:%=$(B)/%) $(UNITS:%=$(BA)/%)

# libFuzzer targets (clang).
FUZZ_SECONDS ?= 60
$(B)/fuzz_%: fuzz/fuzz_%.c $(LIBSRCS) $(wildcard src/*.h) | $(B)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -Isrc -o $@ $< $(LIBSRCS) -lseccomp -lpthread
fuzz: $(B)/fuzz_tls_hello
	mkdir -p $(B)/fuzz-work
	$(B)/fuzz_tls_hello -max_total_time=$(FUZZ_SECONDS) -max_len=20000 \
	    $(B)/fuzz-work fuzz/corpus/tls_hello

deps:
	@sh scripts/deps.sh

run: deps all
	@sh examples/run.sh

test: deps all asan units $(B)/fuzz_tls_hello
	$(PYTHON) -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

# Benchmark: halfpipe beside HAProxy, nginx and sniproxy (docs/benchmarks.md).
$(B)/bench-%: bench/%.c | $(B)
	$(CC) -O2 -g $(WARN) -o $@ $<
bench: deps all $(B)/bench-loadgen $(B)/bench-backend
	$(PYTHON) bench/run.py $(BENCH_ARGS)

test-asan: deps asan units
	$(PYTHON) -m pytest -p no:cacheprovider tests -k "asan" $(PYTEST_ARGS)

clean:
	rm -rf $(B) $(BA)
