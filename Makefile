# Lantern: build, test, run.  GNU make only.
#
#   make          build liblantern, the services and lanternctl
#   make test     every unit and integration test, plain and under ASan+UBSan;
#                 ends with one line "N passed, N failed"
#   make run      start a local PostgreSQL and a region of nodes on loopback
#   make bench    benchmarks (figures + the command that produced them)
#   make lint     cppcheck + the banned-function check
#   make fuzz     libFuzzer harnesses (clang); make fuzz-run FUZZ_SECONDS=30
#                 runs each from its seed corpus and fails on any finding
#   make format   clang-format everything
#   make clean    remove build/
#
# Everything generated (objects, protobuf-c code, binaries) goes under
# $(BUILD) and is never committed.  Missing Debian packages are installed by
# deploy/install-deps.sh, which this file calls when something is missing.

BUILD      ?= build
CC         ?= cc
ifeq ($(origin CC),default)
CC         := cc
endif
V          ?= 0
Q          := $(if $(filter 1,$(V)),,@)

# --- dependencies -----------------------------------------------------------
# Skip the check for goals that need nothing installed.  `make bench` also
# needs RabbitMQ and its C client (bench_broker compares the bus with it);
# no other goal installs them, so that `make test` never pulls in Erlang.
NODEPS_GOALS := clean help format
DEPS_FLAGS   := $(if $(filter bench %/bench_broker,$(MAKECMDGOALS)),--bench)
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell deploy/install-deps.sh --check $(DEPS_FLAGS) >/dev/null 2>&1 && echo ok),ok)
$(info make: some packages are missing; running deploy/install-deps.sh $(DEPS_FLAGS))
_ := $(shell deploy/install-deps.sh $(DEPS_FLAGS) 1>&2)
ifneq ($(.SHELLSTATUS),0)
$(error deploy/install-deps.sh failed; see above)
endif
endif
endif

PKGS       := libczmq libzmq libprotobuf-c libpq libconfig libsodium json-c
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS    = $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)

WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2
BASEFLAGS  := -std=c11 -D_GNU_SOURCE -g $(WARN) -Icommon -I$(BUILD)/gen \
              $(addprefix -I,$(wildcard services/*))
OPT        ?= -O2
SANFLAGS   := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all

# --- sources ----------------------------------------------------------------
PROTOS     := $(wildcard proto/*.proto)
# Well-known types that io.cloudevents.v1 imports; protobuf-c ships no C for
# them, so they are generated from libprotobuf-dev's .proto files.
WKT        := google/protobuf/any google/protobuf/timestamp
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS)) \
              $(patsubst %,$(BUILD)/gen/%.pb-c.c,$(WKT))
PROTO_H    := $(PROTO_C:.c=.h)
# The table of every lantern.v1 message (common/ln_messages.h), generated
# from the .proto files so that a service's new proto file needs no edit in
# common/.
MSG_TABLE  := $(BUILD)/gen/ln_messages_table.c
COMMON_SRC := $(wildcard common/*.c)
CTL_SRC    := $(wildcard tools/lanternctl/*.c)
SUPPORT_SRC:= $(wildcard tests/support/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
INTEG_SRC  := $(wildcard tests/integration/test_*.c)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
PROG_SRC   := $(wildcard tests/progs/*.c)
# The conformance test's cases, one file per service (tests/conformance/).
CONF_SRC   := $(wildcard tests/conformance/*.c)
SERVICES   := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/main.c))))
# A service's modules (everything but its main.c) also go into one archive
# that the service's own tests and benchmarks (test_intake*, bench_intake*)
# link, so they can drive its validation, store and retention directly.  Service functions
# carry their service's prefix (intake_...), so the archive has no clashes.
SVC_SRC    := $(filter-out services/%/main.c,$(wildcard services/*/*.c))
# lanternctl's pure renderer of a service's results goes with it, so that
# its test (test_triage_agenda_html) can call it without the CLI's main.
SVC_SRC    += tools/lanternctl/agenda_html.c
SVC_TEST_SRC := $(wildcard tests/unit/test_intake*.c tests/integration/test_intake*.c \
                  tests/unit/test_triage*.c tests/integration/test_triage*.c)

# Two variants of every object: plain (-O2) and sanitized (ASan+UBSan).
# $(call objs,VARIANT,SOURCES)
objs = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(patsubst $(BUILD)/gen/%,gen/%,$(2)))

LIB_SRC    := $(COMMON_SRC) $(PROTO_C) $(MSG_TABLE)
LIB_plain  := $(BUILD)/plain/liblantern.a
LIB_asan   := $(BUILD)/asan/liblantern.a
SUP_plain  := $(BUILD)/plain/libtestsupport.a
SUP_asan   := $(BUILD)/asan/libtestsupport.a
SVC_plain  := $(BUILD)/plain/libservices.a
SVC_asan   := $(BUILD)/asan/libservices.a

TESTS_plain := $(patsubst tests/%.c,$(BUILD)/plain/tests/%,$(UNIT_SRC) $(INTEG_SRC))
TESTS_asan  := $(patsubst tests/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRC) $(INTEG_SRC))
BENCHES     := $(patsubst tests/bench/%.c,$(BUILD)/plain/bench/%,$(BENCH_SRC))
# Helper programs that tests start as separate processes (kill -9, restarts).
PROGS_plain := $(patsubst tests/progs/%.c,$(BUILD)/plain/progs/%,$(PROG_SRC))
PROGS_asan  := $(patsubst tests/progs/%.c,$(BUILD)/asan/progs/%,$(PROG_SRC))
BINS        := $(BUILD)/bin/lanternctl $(foreach s,$(SERVICES),$(BUILD)/bin/lantern-$(s))
BINS_asan   := $(BUILD)/asan/bin/lanternctl $(foreach s,$(SERVICES),$(BUILD)/asan/bin/lantern-$(s))

.PHONY: all test test-plain test-asan run stop bench lint format clean help fuzz fuzz-run fuzz-corpus
.DEFAULT_GOAL := all
.SECONDARY:
.DELETE_ON_ERROR:

all: $(BINS)

help:
	@sed -n '3,13p' Makefile | sed 's/^# \{0,1\}//'

# --- protobuf-c -------------------------------------------------------------
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=proto --proto_path=/usr/include --c_out=$(BUILD)/gen $<

$(BUILD)/gen/google/protobuf/%.pb-c.c $(BUILD)/gen/google/protobuf/%.pb-c.h: /usr/include/google/protobuf/%.proto
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=/usr/include --c_out=$(BUILD)/gen $<

$(MSG_TABLE): $(PROTOS) tools/build/gen-messages.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)tools/build/gen-messages.sh $(PROTOS) > $@.tmp && mv $@.tmp $@

# --- generated tables ---------------------------------------------------------
# intake's list of municipalities is data (services/intake/municipalities.tsv);
# the generator checks it and writes the C table that intake_municipality.c
# includes.  lanternctl links the same module, so its flags check the same list.
MUNI_INC   := $(BUILD)/gen/intake_municipalities.inc
$(MUNI_INC): services/intake/municipalities.tsv services/intake/municipalities.awk
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)awk -f services/intake/municipalities.awk $< > $@.tmp && mv $@.tmp $@
$(BUILD)/plain/services/intake/intake_municipality.o $(BUILD)/asan/services/intake/intake_municipality.o: $(MUNI_INC)

# --- compile ------------------------------------------------------------------
# Generated code is compiled with the same warnings; every object waits for
# all generated headers so that any source may include them.
define variant
$(BUILD)/$(1)/gen/%.o: $(BUILD)/gen/%.c | $(PROTO_H)
	@mkdir -p $$(@D)
	@echo "  CC/$(1) $$<"
	$(Q)$(CC) $(BASEFLAGS) $(2) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

$(BUILD)/$(1)/%.o: %.c | $(PROTO_H)
	@mkdir -p $$(@D)
	@echo "  CC/$(1) $$<"
	$(Q)$(CC) $(BASEFLAGS) $(2) $$(PKG_CFLAGS) -Itests/support -MMD -MP -c $$< -o $$@

$(LIB_$(1)): $(call objs,$(1),$(LIB_SRC))
	@echo "  AR/$(1) $$@"
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(SUP_$(1)): $(call objs,$(1),$(SUPPORT_SRC))
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(SVC_$(1)): $(call objs,$(1),$(SVC_SRC))
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/$(1)/progs/%: $(BUILD)/$(1)/tests/progs/%.o $(SUP_$(1)) $(LIB_$(1))
	@mkdir -p $$(@D)
	@echo "  LD/$(1) $$@"
	$(Q)$(CC) $(2) -o $$@ $$< $(SUP_$(1)) $(LIB_$(1)) $$(PKG_LIBS) -lpthread

$(BUILD)/$(1)/tests/%: $(BUILD)/$(1)/tests/%.o $(SUP_$(1)) $(LIB_$(1))
	@echo "  LD/$(1) $$@"
	$(Q)$(CC) $(2) -o $$@ $$< $(SUP_$(1)) $(LIB_$(1)) $$(CMOCKA_LIBS) $$(PKG_LIBS) -lpthread

# test_conformance also links the services' case files (tests/conformance/)
# and their modules (the event types they receive).
$(BUILD)/$(1)/tests/integration/test_conformance: $(BUILD)/$(1)/tests/integration/test_conformance.o $(call objs,$(1),$(CONF_SRC)) $(SUP_$(1)) $(SVC_$(1)) $(LIB_$(1))
	@echo "  LD/$(1) $$@"
	$(Q)$(CC) $(2) -o $$@ $$< $(call objs,$(1),$(CONF_SRC)) $(SUP_$(1)) $(SVC_$(1)) $(LIB_$(1)) $$(CMOCKA_LIBS) $$(PKG_LIBS) -lpthread

# Tests of a service (test_intake*, ...) also link the service's modules
# (a static pattern rule: it wins over the generic one above).
$(patsubst tests/%.c,$(BUILD)/$(1)/tests/%,$(SVC_TEST_SRC)): $(BUILD)/$(1)/tests/%: $(BUILD)/$(1)/tests/%.o $(SUP_$(1)) $(SVC_$(1)) $(LIB_$(1))
	@echo "  LD/$(1) $$@"
	$(Q)$(CC) $(2) -o $$@ $$< $(SUP_$(1)) $(SVC_$(1)) $(LIB_$(1)) $$(CMOCKA_LIBS) $$(PKG_LIBS) -lpthread
endef

$(eval $(call variant,plain,$(OPT)))
$(eval $(call variant,asan,$(SANFLAGS)))

# lanternctl also links the services' archive, for the tables of event types
# it shows (tools/lanternctl/known.c) and intake's municipality list (its
# flags check the same list as the node): only what it references is taken.
$(BUILD)/bin/lanternctl: $(call objs,plain,$(CTL_SRC)) $(SVC_plain) $(LIB_plain)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/asan/bin/lanternctl: $(call objs,asan,$(CTL_SRC)) $(SVC_asan) $(LIB_asan)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

define service
$(BUILD)/bin/lantern-$(1): $(call objs,plain,$(wildcard services/$(1)/*.c)) $(LIB_plain)
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$(Q)$(CC) $(OPT) -o $$@ $$^ $$(PKG_LIBS) -lpthread
$(BUILD)/asan/bin/lantern-$(1): $(call objs,asan,$(wildcard services/$(1)/*.c)) $(LIB_asan)
	@mkdir -p $$(@D)
	$(Q)$(CC) $(SANFLAGS) -o $$@ $$^ $$(PKG_LIBS) -lpthread
endef
$(foreach s,$(SERVICES),$(eval $(call service,$(s))))

$(BUILD)/plain/bench/%: $(BUILD)/plain/tests/bench/%.o $(SUP_plain) $(LIB_plain)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) -o $@ $< $(SUP_plain) $(LIB_plain) $(PKG_LIBS) -lpthread

$(patsubst tests/bench/%.c,$(BUILD)/plain/bench/%,$(wildcard tests/bench/bench_intake*.c)): $(BUILD)/plain/bench/%: $(BUILD)/plain/tests/bench/%.o $(SUP_plain) $(SVC_plain) $(LIB_plain)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) -o $@ $< $(SUP_plain) $(SVC_plain) $(LIB_plain) $(PKG_LIBS) -lpthread

# bench_broker also uses the RabbitMQ C client (librabbitmq-dev, installed by
# install-deps.sh --bench): only this object and this binary see it.
RABBIT_LIBS = $(shell pkg-config --libs librabbitmq)
$(BUILD)/plain/tests/bench/bench_broker.o: PKG_CFLAGS += $(shell pkg-config --cflags librabbitmq)
$(BUILD)/plain/bench/bench_broker: $(BUILD)/plain/tests/bench/bench_broker.o $(SUP_plain) $(LIB_plain)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) -o $@ $< $(SUP_plain) $(LIB_plain) $(RABBIT_LIBS) $(PKG_LIBS) -lpthread

# --- test ---------------------------------------------------------------------
# tests/run.sh starts one throwaway PostgreSQL for the whole run (each suite
# makes its own database in it), runs every test binary, counts every test
# case and prints the closing line.
test: $(TESTS_plain) $(TESTS_asan) $(BINS) $(BINS_asan) $(PROGS_plain) $(PROGS_asan)
	$(Q)BUILD=$(BUILD) tests/run.sh $(TESTS_plain) $(TESTS_asan)

test-plain: $(TESTS_plain) $(BINS) $(PROGS_plain)
	$(Q)BUILD=$(BUILD) tests/run.sh $(TESTS_plain)

test-asan: $(TESTS_asan) $(BINS_asan) $(PROGS_asan)
	$(Q)BUILD=$(BUILD) tests/run.sh $(TESTS_asan)

# Tests that run the real lanternctl must not run a stale one.
$(BUILD)/plain/tests/integration/test_lanternctl $(BUILD)/plain/tests/integration/test_cli $(BUILD)/plain/tests/integration/test_signal_cli: $(BUILD)/bin/lanternctl
$(BUILD)/asan/tests/integration/test_lanternctl $(BUILD)/asan/tests/integration/test_cli $(BUILD)/asan/tests/integration/test_signal_cli: $(BUILD)/asan/bin/lanternctl
# test_examples runs every example against a region of this variant's binaries.
$(BUILD)/plain/tests/integration/test_examples: $(BINS)
$(BUILD)/asan/tests/integration/test_examples: $(BINS_asan)
# ... nor a stale service.
$(BUILD)/plain/tests/integration/test_intake $(BUILD)/plain/tests/integration/test_signal_cli $(BUILD)/plain/tests/integration/test_flood $(BUILD)/plain/tests/integration/test_conformance: $(BUILD)/bin/lantern-intake
$(BUILD)/asan/tests/integration/test_intake $(BUILD)/asan/tests/integration/test_signal_cli $(BUILD)/asan/tests/integration/test_flood $(BUILD)/asan/tests/integration/test_conformance: $(BUILD)/asan/bin/lantern-intake
# triage's tests run both services (and lanternctl); so does test_conformance
# (tests/conformance/triage.c).
$(BUILD)/plain/tests/integration/test_triage $(BUILD)/plain/tests/integration/test_triage_cli $(BUILD)/plain/tests/integration/test_conformance: $(BUILD)/bin/lantern-intake $(BUILD)/bin/lantern-triage $(BUILD)/bin/lanternctl
$(BUILD)/asan/tests/integration/test_triage $(BUILD)/asan/tests/integration/test_triage_cli $(BUILD)/asan/tests/integration/test_conformance: $(BUILD)/asan/bin/lantern-intake $(BUILD)/asan/bin/lantern-triage $(BUILD)/asan/bin/lanternctl

# --- bench --------------------------------------------------------------------
bench: $(BENCHES) $(PROGS_plain) $(BINS)
	$(Q)for b in $(BENCHES); do echo "== $$b"; \
	    LANTERN_BUILD_DIR=$(BUILD) LANTERN_SOURCE_DIR=$(CURDIR) $$b || exit 1; done

# --- fuzz (libFuzzer, clang; not part of make test) ---------------------------
# Every tests/fuzz/fuzz_*.c is a harness; tests/fuzz/decoders.c holds the
# per-decoder logic they share.  liblantern is compiled once more with
# clang, coverage instrumentation, ASan and UBSan (UB aborts: a finding).
# fuzz-run runs each harness FUZZ_SECONDS from a copy of its seed corpus
# (tests/fuzz/corpus/<harness>, made by tests/fuzz/make_corpus: make
# fuzz-corpus) and fails on any crash, leak, UB or timeout.
FUZZ_SECONDS ?= 30
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Icommon -I$(BUILD)/gen \
              -Itests/fuzz -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB   := $(BUILD)/fuzz/liblantern.a
FUZZ_OBJS  := $(call objs,fuzz,$(LIB_SRC) tests/fuzz/decoders.c)

fuzz: $(FUZZ_BINS)

fuzz-run: $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-corpus: $(BUILD)/plain/fuzz/make_corpus
	$(Q)$< tests/fuzz/corpus

$(BUILD)/fuzz/gen/%.o: $(BUILD)/gen/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	@echo "  CC/fuzz $<"
	$(Q)clang $(FUZZ_FLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	@echo "  CC/fuzz $<"
	$(Q)clang $(FUZZ_FLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	@echo "  LD/fuzz $@"
	$(Q)clang -fsanitize=fuzzer $(FUZZ_SANITIZE) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/plain/fuzz/make_corpus: $(BUILD)/plain/tests/fuzz/make_corpus.o $(LIB_plain)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) -lpthread

# --- run ----------------------------------------------------------------------
run: all
	$(Q)BUILD=$(BUILD) deploy/run-region start

stop:
	$(Q)BUILD=$(BUILD) deploy/run-region stop

# --- lint / format --------------------------------------------------------------
LINT_DIRS := common services tools tests
lint: $(PROTO_H) $(MUNI_INC)
	$(Q)tools/lint/banned.sh $(LINT_DIRS)
	$(Q)cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	    --inline-suppr --suppress=missingIncludeSystem -Icommon -I$(BUILD)/gen \
	    $(LINT_DIRS)
	$(Q)clang-format --dry-run --Werror $$(find $(LINT_DIRS) -name '*.[ch]') \
	    || { echo "lint: not clang-formatted (make format fixes it)" >&2; exit 1; }
	@echo "lint: ok"

format:
	$(Q)clang-format -i $$(find common services tools tests -name '*.[ch]')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
