# Builds the libFuzzer harnesses with clang, AddressSanitizer and UndefinedBehaviorSanitizer,
# apart from the gcc build: every source is compiled from src/ into $(OUT)/obj. Called by
# `make fuzz-build` (tests/fuzz/Makefile.inc) and tests/fuzz/run:
#   make -f tests/fuzz/fuzz.mk SRCDIR=/path/to/krun OUT=/path/to/fuzz-build
SRCDIR ?= .
OUT ?= fuzz-build
CLANG ?= clang-14

FUZZ_TARGETS = fs_server virtqueue vsock_tx tsi_ctl

SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS_FUZZ = -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $(SAN) \
	-I$(SRCDIR)/src -I$(SRCDIR)/tests/unit -Wall -Wno-unused-parameter

# The device code the harnesses reach (whole folders, so that a new file there needs no
# line here; the archive links only what is used), and what it needs of util and virtio.
DEVICE_SRCS = $(patsubst $(SRCDIR)/%,%,$(wildcard $(SRCDIR)/src/devices/fs/*.c \
	$(SRCDIR)/src/devices/vsock/*.c))
LIB_SRCS = $(addprefix src/,util/error.c util/util.c \
	devices/virtio/virtqueue.c devices/virtio/virtio_mmio_regs.c) $(DEVICE_SRCS) \
	tests/unit/vring_driver.c tests/unit/fs_test_util.c \
	tests/fuzz/fuzz_util.c tests/fuzz/vsock_guest.c
LIB_OBJS = $(patsubst %.c,$(OUT)/obj/%.o,$(LIB_SRCS))
HEADERS = $(wildcard $(SRCDIR)/src/*/*.h $(SRCDIR)/src/*/*/*.h $(SRCDIR)/tests/unit/*.h \
	$(SRCDIR)/tests/fuzz/*.h)

all: $(addprefix $(OUT)/fuzz_,$(FUZZ_TARGETS))

$(OUT)/obj/%.o: $(SRCDIR)/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_FUZZ) -fsanitize=fuzzer-no-link -c $< -o $@

$(OUT)/libfuzzkrun.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(OUT)/fuzz_%: $(SRCDIR)/tests/fuzz/fuzz_%.c $(OUT)/libfuzzkrun.a $(HEADERS)
	$(CLANG) $(CFLAGS_FUZZ) -fsanitize=fuzzer $< $(OUT)/libfuzzkrun.a -lpthread -o $@

.PHONY: all
.DELETE_ON_ERROR:
