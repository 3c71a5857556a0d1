# halfpipe — see README.md.  `make run`, `make test`.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE $(CARES_CFLAGS)
PYTHON  := /usr/bin/python3
# c-ares (libc-ares-dev): the resolver that follows backend names (src/resolve.c)
CARES_CFLAGS := $(shell pkg-config --cflags libcares 2>/dev/null)
CARES_LIBS   := $(shell pkg-config --libs libcares 2>/dev/null || echo -lcares)
# libcrypto (libssl-dev): HKDF and AES for QUIC Initials (src/quic_initial.c)
CRYPTO_LIBS  := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
LIBS    := -lseccomp $(CARES_LIBS) $(CRYPTO_LIBS) -lpthread

SRCS    := $(wildcard src/*.c)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
UNITS   := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c))

# Two builds side by side: build/ (plain) and build-asan/ (ASan+UBSan).
B       := build
BA      := build-asan
ASAN    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all asan units deps test-deps run test test-asan fuzz fuzz-peers bench soak clean install docs
all: $(B)/halfpipe

$(B)/%.o: src/%.c $(wildcard src/*.h) | $(B)
	$(CC) $(CFLAGS) $(WARN) -c -o $@ $<
$(BA)/%.o: src/%.c $(wildcard src/*.h) | $(BA)
	$(CC) $(ASAN) $(WARN) -c -o $@ $<
$(B) $(BA):
	mkdir -p $@

$(B)/halfpipe: $(SRCS:src/%.c=$(B)/%.o)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
$(BA)/halfpipe: $(SRCS:src/%.c=$(BA)/%.o)
	$(CC) $(ASAN) -o $@ $^ $(LIBS)

$(B)/t_%: tests/unit/t_%.c tests/unit/test.h tests/unit/quic_build.h $(LIBSRCS:src/%.c=$(B)/%.o)
	$(CC) $(CFLAGS) $(WARN) -Isrc -o $@ $< $(LIBSRCS:src/%.c=$(B)/%.o) $(LIBS)
$(BA)/t_%: tests/unit/t_%.c tests/unit/test.h tests/unit/quic_build.h $(LIBSRCS:src/%.c=$(BA)/%.o)
	$(CC) $(ASAN) $(WARN) -Isrc -o $@ $< $(LIBSRCS:src/%.c=$(BA)/%.o) $(LIBS)

asan: $(BA)/halfpipe
units: $(UNITS:%=$(B)/%) $(UNITS:%=$(BA)/%)

# libFuzzer targets (clang).
FUZZ_SECONDS ?= 60
$(B)/fuzz_%: fuzz/fuzz_%.c $(LIBSRCS) $(wildcard src/*.h) tests/unit/quic_build.h | $(B)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -Isrc -o $@ $< $(LIBSRCS) $(LIBS)
# Each target runs FUZZ_SECONDS over its committed corpus; new inputs go to
# build/fuzz-work/NAME, crashers to build/fuzz-NAME-crash-*: fix the bug and
# add the crasher to fuzz/corpus/NAME, which `make test` runs every time.
fuzz: $(B)/fuzz_tls_hello $(B)/fuzz_conf $(B)/fuzz_proxy_proto $(B)/fuzz_quic_initial
	for t in tls_hello conf proxy_proto quic_initial; do \
	    mkdir -p $(B)/fuzz-work/$$t && \
	    $(B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=20000 \
	        -artifact_prefix=$(B)/fuzz-$$t- $(B)/fuzz-work/$$t fuzz/corpus/$$t || exit 1; \
	done

deps:
	@sh scripts/deps.sh

# what `make test` adds: the real components the integration tests start
test-deps:
	@sh scripts/deps.sh test

# The README's directive table and the man pages' and docs/config.md's list of
# what a reload does not apply, from halfpipe --directives (tests/test_docs.py).
docs: $(B)/halfpipe
	$(PYTHON) scripts/gen-docs.py

run: deps all
	@sh examples/run.sh

test: test-deps all asan units $(B)/bench-backend $(B)/fuzz_tls_hello $(B)/fuzz_conf $(B)/fuzz_proxy_proto \
    $(B)/fuzz_quic_initial
	$(PYTHON) -m pytest -p no:cacheprovider --durations=15 tests $(PYTEST_ARGS)

# Benchmark: halfpipe beside HAProxy, nginx and sniproxy (docs/benchmarks.md).
$(B)/bench-%: bench/%.c $(wildcard bench/*.h) | $(B)
	$(CC) -O2 -g $(WARN) -o $@ $<
# the QUIC load: Initials from the test builder, read back by halfpipe's reader
$(B)/bench-quicload: bench/quicload.c $(wildcard bench/*.h) tests/unit/quic_build.h \
    $(B)/quic_initial.o $(B)/tls_hello.o
	$(CC) -O2 -g $(WARN) -Isrc -o $@ $< $(B)/quic_initial.o $(B)/tls_hello.o $(CRYPTO_LIBS)
bench: deps all $(B)/bench-loadgen $(B)/bench-backend $(B)/bench-nullcall $(B)/bench-quicload
	$(PYTHON) bench/run.py $(BENCH_ARGS)

# The long fault soak (docs/reliability.md); `make test` runs its short profile.
soak: deps all asan
	$(PYTHON) tests/soak.py $(PYTEST_ARGS)

# The randomized peer fuzzer (tests/integ/peerfuzz.py) for FUZZ_PEERS_SECONDS,
# shared by the variants in FUZZ_PEERS_VARIANTS; FUZZ_PEERS_SEED replays a run
# (a random one otherwise; the seed is printed).  `make test` runs a short one.
FUZZ_PEERS_SECONDS  ?= 300
FUZZ_PEERS_VARIANTS ?= plain,copy,asan
fuzz-peers: deps all asan
	$(PYTHON) tests/integ/peerfuzz.py --seconds $(FUZZ_PEERS_SECONDS) \
	    --variant $(FUZZ_PEERS_VARIANTS) $(if $(FUZZ_PEERS_SEED),--seed $(FUZZ_PEERS_SEED))

test-asan: deps asan units
	$(PYTHON) -m pytest -p no:cacheprovider tests -k "asan" $(PYTEST_ARGS)

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, both man pages,
# the systemd units (the service's paths follow PREFIX; the socket, optional), the example configuration under
# share/doc and, only if there is none yet, as /etc/halfpipe/halfpipe.conf.
PREFIX  ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: $(B)/halfpipe
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PREFIX)/share/doc/halfpipe/examples $(DESTDIR)/etc/halfpipe
	install -m 755 $(B)/halfpipe $(DESTDIR)$(PREFIX)/sbin/halfpipe
	install -m 644 man/halfpipe.8 $(DESTDIR)$(PREFIX)/share/man/man8/halfpipe.8
	install -m 644 man/halfpipe.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/halfpipe.conf.5
	sed 's|/usr/sbin/halfpipe|$(PREFIX)/sbin/halfpipe|g' dist/halfpipe.service \
	    >$(DESTDIR)$(UNITDIR)/halfpipe.service
	chmod 644 $(DESTDIR)$(UNITDIR)/halfpipe.service
	install -m 644 dist/halfpipe.socket $(DESTDIR)$(UNITDIR)/halfpipe.socket
	install -m 644 examples/halfpipe.conf $(DESTDIR)$(PREFIX)/share/doc/halfpipe/examples/
	test -e $(DESTDIR)/etc/halfpipe/halfpipe.conf || \
	    install -m 644 examples/halfpipe.conf $(DESTDIR)/etc/halfpipe/halfpipe.conf

clean:
	rm -rf $(B) $(BA)
