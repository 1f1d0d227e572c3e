# netpolld — build, test, install.
#
#   make            build into $(BUILD)/
#   make run        install missing Debian packages, build, run conf/netpolld.conf
#   make check      install missing Debian packages, build, run every test
#   make check-asan the whole suite again under AddressSanitizer + UBSan
#   make lint       cppcheck and clang-tidy (.clang-tidy)
#   make fuzz       every parser under libFuzzer, FUZZ_SECONDS each
#   make soak       chaos soak and hostile clients against the sanitized build
#   make check-valgrind  part of the suite under Valgrind memcheck
#   make coverage   gcov line coverage of src/, at least 85%
#   make bench      netpolld against HAProxy and nginx on loopback (a tool, not a test)
#   make install    PREFIX=/usr/local DESTDIR= (binaries, man pages, units, config)

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/netpolld
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=

BUILD      ?= build
CC         ?= cc
CFLAGS     ?= -O2 -g
PYTHON     ?= /usr/bin/python3
PYTEST_ARGS ?= -q

# Debian packages: what building needs, and what the tests need on top.
DEPS_BUILD = gcc make pkg-config libconfig-dev libyaml-dev libsystemd-dev check
DEPS_TEST  = clang libclang-rt-14-dev python3 python3-pytest systemd procps tmux
PKGS       = libconfig yaml-0.1 libsystemd

VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# Recursive (=) so pkg-config runs only when compiling, after `deps`.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -pthread
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

# make V=1 shows the full compiler command lines.
V          ?= 0
Q          = $(if $(filter 1,$(V)),,@)
say        = $(if $(filter 1,$(V)),,@printf '  %-7s %s\n' $(1) $(2);)

POLLER     ?= $(if $(filter Linux,$(shell uname -s)),epoll,kqueue)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
	$(CFLAGS) $(PKG_CFLAGS) -MMD -MP \
	-DNETPOLLD_VERSION='"$(VERSION)"' \
	-DNETPOLLD_CONFIG_DEFAULT='"$(SYSCONFDIR)/netpolld/netpolld.conf"'

# Every src/*.c but the daemon's main, the client's src/netpollctl*.c and
# the pollers not chosen.
CORE_SRC = $(filter-out src/main.c src/netpollctl%.c src/poller_%.c,$(wildcard src/*.c)) \
	src/poller_$(POLLER).c
CORE_OBJ = $(CORE_SRC:src/%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/check_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run check check-unit check-integration check-asan check-systemd deps deps-build \
	install uninstall clean fuzz bench

all: $(BUILD)/netpolld $(BUILD)/netpollctl

$(BUILD)/netpolld: $(BUILD)/main.o $(CORE_OBJ)
	$(call say,LD,$@) $(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS)

# The client is src/netpollctl*.c on libc alone: nothing else from src/,
# no $(PKG_LIBS).
NETPOLLCTL_OBJ = $(patsubst src/%.c,$(BUILD)/%.o,$(wildcard src/netpollctl*.c))
# The objects, not $^: a build/ from before the split has a netpollctl.d
# naming src/netpollctl.c as a prerequisite.
$(BUILD)/netpollctl: $(NETPOLLCTL_OBJ)
	$(call say,LD,$@) $(CC) $(ALL_CFLAGS) -o $@ $(NETPOLLCTL_OBJ) $(LDFLAGS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(call say,CC,$<) $(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) | $(BUILD)/tests
	$(call say,CCLD,$@) $(CC) $(ALL_CFLAGS) -Isrc $(CHECK_CFLAGS) -o $@ $< $(CORE_OBJ) $(LDFLAGS) \
		$(PKG_LIBS) $(CHECK_LIBS)

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

run: deps-build
	$(MAKE) all
	$(BUILD)/netpolld -c conf/netpolld.conf

check: deps
	$(MAKE) check-unit check-integration

check-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; CK_FORK=yes $$t; done

# Once per relay path: every config file the suite writes gets
# global.splice set so (tests/netpolld_testlib.py, NETPOLLD_TEST_SPLICE).
SPLICE_MODES ?= on off
check-integration: $(BUILD)/netpolld $(BUILD)/netpollctl
	@set -e; for m in $(SPLICE_MODES); do echo "== integration, splice $$m"; \
		NETPOLLD_TEST_SPLICE=$$m NETPOLLD=$(abspath $(BUILD)/netpolld) NETPOLLD_SRC=$(CURDIR) \
		NETPOLLCTL=$(abspath $(BUILD)/netpollctl) \
		$(PYTHON) -m pytest $(PYTEST_ARGS) tests/integration; done

# The same suite against an instrumented build, in its own build folder,
# on the default relay path (splice on; make check runs both paths).
# detect_leaks: a process that exits must have freed what it allocated.
ASAN_BUILD = $(MAKE) --no-print-directory BUILD=build-asan \
	CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
	LDFLAGS='-fsanitize=address,undefined'
check-asan: deps
	SPLICE_MODES=on NETPOLLD_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(ASAN_BUILD) check-unit check-integration

# Line coverage of src/ (gcov, read by gcovr): the unit tests and the
# integration suite once (COVERAGE_SPLICE, default on) against a --coverage
# build in build-cov/, then the per-file table on stdout and in
# build-cov/coverage.txt, annotated sources in build-cov/coverage/index.html.
# Fails if a test fails or fewer than COVERAGE_MIN percent of the lines ran.
# A process writes its .gcda at exit(): one killed by SIGKILL adds nothing.
# The pollers not built have no .gcno; naming them keeps them out anyway.
COVERAGE_MIN    ?= 85
COVERAGE_SPLICE ?= on
COV_BUILD        = build-cov
COV_MAKE         = $(MAKE) --no-print-directory BUILD=$(COV_BUILD) \
	CFLAGS='-O0 -g --coverage' LDFLAGS='--coverage'
COV_GCOVR        = gcovr --root $(CURDIR) --object-directory $(COV_BUILD) \
	--filter '$(CURDIR)/src/' \
	$(patsubst %,--exclude '$(CURDIR)/%',$(filter-out src/poller_$(POLLER).c,$(wildcard src/poller_*.c)))
.PHONY: coverage
coverage:
	@$(MAKE) --no-print-directory deps-build DEPS_BUILD='$(DEPS_BUILD) $(DEPS_TEST) gcovr'
	@mkdir -p $(COV_BUILD) && find $(COV_BUILD) -name '*.gcda' -delete
	@rc=0; SPLICE_MODES='$(COVERAGE_SPLICE)' $(COV_MAKE) check-unit check-integration || rc=$$?; \
	rm -rf $(COV_BUILD)/coverage $(COV_BUILD)/coverage.txt && mkdir -p $(COV_BUILD)/coverage; \
	$(COV_GCOVR) --txt $(COV_BUILD)/coverage.txt --html-details $(COV_BUILD)/coverage/index.html \
		--fail-under-line $(COVERAGE_MIN) $(COV_BUILD); cov=$$?; \
	echo "== line coverage of src/ ($(COV_BUILD)/coverage.txt, $(COV_BUILD)/coverage/index.html)"; \
	[ ! -f $(COV_BUILD)/coverage.txt ] || cat $(COV_BUILD)/coverage.txt; \
	if [ $$rc != 0 ]; then echo "coverage: a test failed (the figures above miss what it did not run)"; exit $$rc; fi; \
	if [ $$cov = 2 ]; then echo "coverage: line coverage is under $(COVERAGE_MIN)%"; fi; \
	exit $$cov

# The daemon, and netpollctl where a test runs it, under Valgrind's
# memcheck through a short part of the integration suite (VALGRIND_TESTS,
# splice on), on a plain -O1 -g build in build-vg/. Any memcheck error or
# definite/indirect leak fails the run: the fixture fails the test whose
# daemon's log shows one (NETPOLLD_WRAPPER, tests/integration/conftest.py),
# and at the end every log, one per process in build-vg/valgrind/ (the
# daemon's config-syntax children too, netpollctl through a wrapper
# script), must say "0 errors". "Still reachable" blocks (glibc,
# libsystemd) are not errors; tests/valgrind.supp says what else is not.
# Waits get 3x the time (NETPOLLD_TEST_TIMEOUT); RSS checks are skipped.
#   make check-valgrind VALGRIND_TESTS=tests/integration/test_relay.py
.PHONY: check-valgrind
VG_BUILD       = build-vg
VALGRIND      ?= valgrind
VALGRIND_TESTS ?= tests/integration/test_relay.py tests/integration/test_halfclose.py \
	tests/integration/test_reload.py tests/integration/test_stats.py \
	tests/integration/test_metrics.py tests/integration/test_proxyproto.py \
	tests/integration/test_splice.py tests/integration/test_limits.py
# Valgrind keeps 12 descriptors of the open-file limit for itself, so the
# tests that set a small limit and expect the daemon to see it all are out;
# so are the 404/405 variants, one code path that two other tests cover.
VALGRIND_K     ?= not short_of_descriptors and not other_paths_are_404 \
	and not other_methods_are_405
VALGRIND_TIMEOUT ?= 60
VALGRIND_OPTS  = --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no --track-origins=yes \
	--num-callers=30 --suppressions=$(CURDIR)/tests/valgrind.supp \
	--log-file=$(CURDIR)/$(VG_BUILD)/valgrind/vg.%p.log
VG_CMD         = $(VALGRIND) $(VALGRIND_OPTS)
check-valgrind:
	@$(MAKE) --no-print-directory deps-build \
		DEPS_BUILD='$(DEPS_BUILD) python3 python3-pytest procps valgrind'
	$(MAKE) BUILD=$(VG_BUILD) CFLAGS='-O1 -g' all
	@rm -rf $(VG_BUILD)/valgrind && mkdir -p $(VG_BUILD)/valgrind
	@printf '#!/bin/sh\nexec %s "$$@"\n' '$(VG_CMD) $(abspath $(VG_BUILD)/netpollctl)' \
		> $(VG_BUILD)/valgrind/netpollctl && chmod +x $(VG_BUILD)/valgrind/netpollctl
	@rc=0; NETPOLLD_TEST_SPLICE=on NETPOLLD_SANITIZED=1 NETPOLLD_TEST_TIMEOUT=$(VALGRIND_TIMEOUT) \
		NETPOLLD_WRAPPER='$(VG_CMD)' NETPOLLD=$(abspath $(VG_BUILD)/netpolld) NETPOLLD_SRC=$(CURDIR) \
		NETPOLLCTL=$(abspath $(VG_BUILD)/valgrind/netpollctl) \
		$(PYTHON) -m pytest $(PYTEST_ARGS) $(if $(VALGRIND_K),-k '$(VALGRIND_K)') $(VALGRIND_TESTS) \
		|| rc=1; \
	set -- $(VG_BUILD)/valgrind/vg.*.log; \
	if [ ! -e "$$1" ]; then echo "check-valgrind: no valgrind log in $(VG_BUILD)/valgrind"; exit 1; fi; \
	bad=0; for f in "$$@"; do grep -q 'ERROR SUMMARY: 0 errors' "$$f" && continue; bad=1; \
		echo "check-valgrind: $$f: $$(grep -h -m1 -o 'ERROR SUMMARY: .*' "$$f" || \
			echo 'no ERROR SUMMARY (killed?)') [$$(grep -h -m1 -o 'Command: .*' "$$f")]"; done; \
	echo "check-valgrind: $$# valgrind logs in $(VG_BUILD)/valgrind, $$(grep -L 'ERROR SUMMARY: 0 errors' "$$@" | wc -l) with errors"; \
	[ $$rc = 0 ] && [ $$bad = 0 ]

# libFuzzer targets, one per parser of outside input: tests/fuzz/fuzz_NAME.c.
# Every CORE_SRC file is compiled once, with coverage and the sanitizers,
# into $(FUZZ_DIR)/libcore.a, and the helpers several targets share
# (tests/fuzz/*_common.c) into $(FUZZ_DIR)/libfuzz.a; a target links
# against both, so it pulls in only the objects it uses and never the
# daemon's main. `make fuzz` runs each target (or those FUZZ_TARGETS
# names: FUZZ_TARGETS='http addr') for FUZZ_SECONDS, CI's bound per
# target, with tests/fuzz/NAME.dict (else the dict of NAME's first word,
# config.dict for config_yaml) on a copy of tests/fuzz/corpus/NAME/ in
# $(FUZZ_DIR), plus tests/fuzz/regressions/NAME/ read as it is: what it
# finds (new inputs, crashes) stays out of the repository. Each run's
# output goes to $(FUZZ_DIR)/NAME.log, and one line per target says its
# executions and coverage. LeakSanitizer is on, less the library leaks
# tests/fuzz/lsan.supp names. A crash, leak or timeout fails the run,
# after every target has had its turn.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 25
FUZZ_TARGETS ?=
FUZZ_ARGS    ?=
FUZZ_DIR      = $(BUILD)/fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
	-fsanitize=fuzzer-no-link $(FUZZ_SAN) -Isrc $(PKG_CFLAGS) -MMD -MP \
	-DNETPOLLD_VERSION='"$(VERSION)"'
FUZZ_LDFLAGS  = -fsanitize=fuzzer $(FUZZ_SAN)
FUZZ_SRC      = $(filter-out %_common.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN      = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_CORE_OBJ = $(CORE_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_HELP_OBJ = $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/obj/fuzz/%.o,$(wildcard tests/fuzz/*_common.c))
FUZZ_LIBS     = $(FUZZ_DIR)/libfuzz.a $(FUZZ_DIR)/libcore.a
FUZZ_RUN      = $(if $(FUZZ_TARGETS),$(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%),$(FUZZ_BIN))
# A small quarantine (freed blocks ASan keeps from reuse; 256 MB by
# default) still outlasts what one input allocates, and makes each leak
# check libFuzzer runs after an input that leaked (libconfig 1.5 leaks on
# many syntax errors) ~10x cheaper: the check walks every block, freed
# ones too. Settings already in ASAN_OPTIONS win.
FUZZ_ENV      = ASAN_OPTIONS=quarantine_size_mb=4$${ASAN_OPTIONS:+:$$ASAN_OPTIONS} \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<) $(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/obj/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<) $(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/libcore.a: $(FUZZ_CORE_OBJ)
	$(call say,AR,$@) rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/libfuzz.a: $(FUZZ_HELP_OBJ)
	$(call say,AR,$@) rm -f $@ && ar rcs $@ $^

$(FUZZ_BIN): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/fuzz/%.o $(FUZZ_LIBS)
	$(call say,FUZZLD,$@) $(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_LIBS) $(PKG_LIBS)

fuzz: deps
	$(MAKE) $(FUZZ_RUN)
	@failed=; : > $(FUZZ_DIR)/summary.txt; for f in $(FUZZ_RUN); do \
		n=$${f##*/fuzz_}; c=$(FUZZ_DIR)/corpus-$$n; log=$(FUZZ_DIR)/$$n.log; \
		mkdir -p $$c; if [ -d tests/fuzz/corpus/$$n ]; then cp tests/fuzz/corpus/$$n/* $$c/; fi; \
		d=tests/fuzz/$$n.dict; [ -f $$d ] || d=tests/fuzz/$${n%%_*}.dict; \
		dict=; if [ -f $$d ]; then dict=-dict=$$d; fi; \
		r=tests/fuzz/regressions/$$n; [ -d $$r ] || r=; \
		echo "== $$f ($(FUZZ_SECONDS)s, output in $$log)"; \
		if $(FUZZ_ENV) $$f -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$$n- $$dict $(FUZZ_ARGS) \
			$$c $$r > $$log 2>&1; then st=ok; \
		else st=FAILED; failed="$$failed $$n"; tail -n 80 $$log; fi; \
		last=$$(grep 'cov: ' $$log | tail -n 1); \
		printf '%-18s %-6s executions=%s exec/s=%s cov=%s ft=%s corpus=%s\n' fuzz_$$n $$st \
			"$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1)" \
			"$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log | tail -n 1)" \
			"$$(echo "$$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')" \
			"$$(echo "$$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')" \
			"$$(echo "$$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')" \
			| tee -a $(FUZZ_DIR)/summary.txt; \
	done; \
	echo "== fuzz summary ($(FUZZ_SECONDS)s per target, $(FUZZ_DIR)/summary.txt)"; \
	cat $(FUZZ_DIR)/summary.txt; \
	if [ -n "$$failed" ]; then \
		echo "fuzz: failed:$$failed (inputs saved as $(FUZZ_DIR)/NAME-crash-*, -leak-*, -timeout-*)"; \
		exit 1; fi

-include $(wildcard $(FUZZ_DIR)/obj/*.d $(FUZZ_DIR)/obj/fuzz/*.d)

# Static analysis, no build needed: cppcheck on src/ and the tests, then
# clang-tidy (.clang-tidy) on every src/*.c of this platform, LINT_JOBS at
# a time, with the compiler's defines. Both always run; any finding fails,
# and only a file with findings prints. A false positive is silenced on
# its line, with the reason: /* cppcheck-suppress ID ; why */ or
# /* NOLINT(check): why */.
LINT_JOBS ?= 2
LINT_DEFS  = -D_GNU_SOURCE -DNETPOLLD_VERSION='"$(VERSION)"' \
	-DNETPOLLD_CONFIG_DEFAULT='"$(SYSCONFDIR)/netpolld/netpolld.conf"'
LINT_SRC   = $(filter-out src/poller_%.c,$(wildcard src/*.c)) src/poller_$(POLLER).c
.PHONY: lint
lint:
	@$(MAKE) --no-print-directory deps-build DEPS_BUILD='$(DEPS_BUILD) cppcheck clang-tidy'
	@rc=0; echo "== cppcheck"; \
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
		--inline-suppr --std=c11 --library=posix --suppress=missingIncludeSystem \
		$(LINT_DEFS) -Isrc src tests/unit tests/fuzz || rc=1; \
	echo "== clang-tidy ($(words $(LINT_SRC)) files, $(LINT_JOBS) at a time)"; \
	printf '%s\n' $(LINT_SRC) | xargs -P $(LINT_JOBS) -I{} sh -c \
		'out=$$(clang-tidy --quiet "$$@" 2>&1) || { printf "%s\n" "$$out"; exit 1; }' \
		clang-tidy {} -- -std=c11 $(LINT_DEFS) -Isrc $$(pkg-config --cflags $(PKGS)) || rc=1; \
	exit $$rc

# The chaos soak (tests/soak/soak.py, SOAK_SECONDS of faults under
# SOAK_CONNECTIONS concurrent connections), then the hostile clients
# (tests/soak/hostile.py), both against the sanitized build of check-asan
# in build-asan/. Each prints its summary and fails on any lost byte,
# unexplained cut, leak, sanitizer report or failed check.
#   make soak SOAK_SECONDS=90 HOSTILE_SECONDS=30
SOAK_SECONDS     ?= 300
SOAK_CONNECTIONS ?= 400
HOSTILE_SECONDS  ?= 90
.PHONY: soak
soak: deps
	$(ASAN_BUILD) all
	$(PYTHON) tests/soak/soak.py --netpolld build-asan/netpolld --netpollctl build-asan/netpollctl \
		--seconds $(SOAK_SECONDS) --connections $(SOAK_CONNECTIONS)
	$(PYTHON) tests/soak/hostile.py --netpolld build-asan/netpolld --netpollctl build-asan/netpollctl \
		--seconds $(HOSTILE_SECONDS)

# The installed units under a real systemd: PID 1 of a container booted
# with systemd-nspawn from a Debian root cached in /var/cache/netpolld-test
# (built once with debootstrap from this machine's apt source). Needs root.
check-systemd:
	@$(MAKE) --no-print-directory deps-build \
		DEPS_BUILD='$(DEPS_BUILD) python3 python3-pytest debootstrap systemd-container'
	NETPOLLD_SRC=$(CURDIR) NETPOLLD_SYSTEMD_REQUIRED=1 MAKE=$(MAKE) \
		$(PYTHON) -m pytest $(PYTEST_ARGS) tests/systemd

# netpolld against HAProxy (with and without splice), nginx's stream
# module and no proxy, single-threaded and pinned, on loopback; installs
# the peers from Debian if missing. Prints a table of medians with the
# ratio to the best peer, writes every figure to build/bench/results.json.
#   make bench BENCH_ARGS='--rounds 1 --only redis,idle --proxies haproxy,netpolld'
BENCH_ARGS ?=
bench:
	@$(MAKE) --no-print-directory deps-build DEPS_BUILD='$(DEPS_BUILD) python3'
	$(MAKE) $(BUILD)/netpolld
	$(PYTHON) tests/bench/bench.py --binary $(BUILD)/netpolld $(BENCH_ARGS)

deps:
	@$(MAKE) --no-print-directory deps-build DEPS_BUILD='$(DEPS_BUILD) $(DEPS_TEST)'

# apt-get only for what dpkg says is missing; elsewhere, say what to get.
deps-build:
	@if ! command -v dpkg-query >/dev/null; then \
		echo "deps: not a Debian system; install: $(DEPS_BUILD)"; exit 0; fi; \
	missing=""; for p in $(DEPS_BUILD); do \
		dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed \
			|| missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "deps: installing$$missing"; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)/netpolld
	install -m 0755 $(BUILD)/netpolld $(DESTDIR)$(SBINDIR)/netpolld
	install -m 0644 man/netpolld.8 $(DESTDIR)$(MANDIR)/man8/netpolld.8
	install -m 0644 man/netpolld.conf.5 $(DESTDIR)$(MANDIR)/man5/netpolld.conf.5
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		systemd/netpolld.service.in > $(DESTDIR)$(UNITDIR)/netpolld.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netpolld.service
	install -m 0644 systemd/netpolld.socket $(DESTDIR)$(UNITDIR)/netpolld.socket
	install -m 0644 conf/netpolld.conf conf/netpolld.yaml $(DESTDIR)$(DOCDIR)/examples/
	# An operator's edited config is never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/netpolld/netpolld.conf ] || \
		install -m 0644 conf/netpolld.conf $(DESTDIR)$(SYSCONFDIR)/netpolld/netpolld.conf
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD)/netpollctl $(DESTDIR)$(BINDIR)/netpollctl
	install -m 0644 man/netpollctl.1 $(DESTDIR)$(MANDIR)/man1/netpollctl.1

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/netpolld $(DESTDIR)$(MANDIR)/man8/netpolld.8 \
		$(DESTDIR)$(MANDIR)/man5/netpolld.conf.5 $(DESTDIR)$(UNITDIR)/netpolld.service \
		$(DESTDIR)$(UNITDIR)/netpolld.socket
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(BINDIR)/netpollctl $(DESTDIR)$(MANDIR)/man1/netpollctl.1

clean:
	rm -rf build build-asan build-clang build-cov build-vg

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
