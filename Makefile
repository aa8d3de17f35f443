# uzram - a userspace zram.  Plain make: `make`, `make check`, `make deps`,
# `make install DESTDIR= PREFIX=`, `make SANITIZE=address,undefined`,
# `make deb` (the Debian package) and `make lintian`.

PREFIX ?= /usr/local
DESTDIR ?=
# The version: debian/changelog's first line, without epoch or Debian
# revision (the one place it is written; read without dpkg-dev).
VERSION := $(shell sed -n '1{s/^[^(]*(\([^)]*\)).*/\1/;s/^[0-9]*://;s/-[^-]*$$//;p;}' debian/changelog 2>/dev/null)
ifeq ($(VERSION),)
$(error no version: debian/changelog is missing or its first line has no (VERSION))
endif
CC ?= cc
PKGS := fuse3 liblz4 inih libsystemd liburing libzstd libxxhash
# What uzramctl links: the codecs (compress/), nothing of FUSE or systemd.
CTL_PKGS := liblz4 libzstd
DEPS_DEB := build-essential pkg-config libfuse3-dev fuse3 liblz4-dev liburing-dev libzstd-dev libxxhash-dev check \
	libinih-dev libsystemd-dev systemd-container e2fsprogs util-linux linux-source-6.1 xz-utils bc perl \
	clang libclang-rt-14-dev valgrind fio python3-prometheus-client debhelper dpkg-dev lintian

# $(call pkg,FLAG,PACKAGES): pkg-config FLAG for those packages; stops,
# naming the packages pkg-config does not find, if any.  Only expanded
# by the rules that compile or link, so that deps, clean and the like
# work before the packages are there.
pkg_missing = $(strip $(foreach p,$(1),$(if $(shell pkg-config --exists $(p) && echo y),,$(p))))
pkg = $(if $(call pkg_missing,$(2)),$(error pkg-config: no package $(call pkg_missing,$(2)) (make deps installs what the build needs)),$(shell pkg-config $(1) $(2)))
# Each asked once, when first needed.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg,--cflags,$$(PKGS)))$(PKG_CFLAGS)
LDLIBS = $(eval LDLIBS := $$(call pkg,--libs,$$(PKGS)) -pthread)$(LDLIBS)
CTL_LDLIBS = $(eval CTL_LDLIBS := $$(call pkg,--libs,$$(CTL_PKGS)) -pthread)$(CTL_LDLIBS)
CHECK_LIBS = $(eval CHECK_LIBS := $$(call pkg,--libs,check))$(CHECK_LIBS)

WARN := -Wall -Wextra -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes -Werror
# Each object's header dependencies, written by the compiler beside it.
DEPFLAGS := -MMD -MP
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -pthread -D_GNU_SOURCE -DSRCDIR=\"$(CURDIR)\" -DUZ_VERSION=\"$(VERSION)\" $(WARN) $(PKG_CFLAGS)

ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -DUZ_LOCK_DEBUG
LDFLAGS += -fsanitize=$(SANITIZE)
endif

comma := ,
# Sanitized objects live apart so that builds never mix.
B := build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))
STORE := store/lock.c store/arena.c store/reserve.c store/afmalloc.c store/slot.c store/backing.c store/store.c store/writeback.c store/recompress.c store/dicts.c store/snapshot.c
COMPRESS := compress/page.c compress/codec.c compress/dict.c
DAEMON_LIB := daemon/config.c daemon/log.c daemon/ctl.c daemon/ctl_commands.c daemon/stats.c
FUSE := fuse/uzfuse.c fuse/uring.c
UZRAMD := daemon/uzramd.c daemon/args.c daemon/setup.c daemon/commands.c daemon/dictpolicy.c $(FUSE) $(DAEMON_LIB) $(STORE) $(COMPRESS)
UZRAMCTL := daemon/uzramctl.c daemon/ctl_commands.c daemon/stats.c store/arena.c compress/codec.c compress/page.c
TESTS := check_afmalloc check_compress check_store check_config check_ctl check_fuse check_slot check_snapshot check_lock check_dict

# Plain builds put the programs at the top; sanitized ones in their $(B).
BIN := $(if $(SANITIZE),$(B)/,)
obj = $(patsubst %.c,$(B)/%.o,$(1))

all: $(BIN)uzramd $(BIN)uzramctl

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<
# What prints the version is built again when it changes.
$(call obj,daemon/args.c daemon/stats.c daemon/uzramctl.c): debian/changelog

$(BIN)uzramd: $(call obj,$(UZRAMD))
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)uzramctl: $(call obj,$(UZRAMCTL))
	$(CC) $(LDFLAGS) -o $@ $^ $(CTL_LDLIBS)

$(B)/tests/check_afmalloc: $(call obj,tests/check_afmalloc.c $(STORE) $(COMPRESS))
$(B)/tests/check_compress: $(call obj,tests/check_compress.c $(COMPRESS))
$(B)/tests/check_store: $(call obj,tests/check_store.c $(STORE) $(COMPRESS))
$(B)/tests/check_slot: $(call obj,tests/check_slot.c store/lock.c store/slot.c)
$(B)/tests/check_snapshot: $(call obj,tests/check_snapshot.c $(STORE) $(COMPRESS))
$(B)/tests/check_dict: $(call obj,tests/check_dict.c $(STORE) $(COMPRESS))
# The store's lock checks (store/lock.h) are on in sanitized and fuzz
# builds, and in check_lock's objects, built apart with them on.
lobj = $(patsubst %.c,$(B)/lockdep/%.o,$(1))
$(B)/lockdep/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DUZ_LOCK_DEBUG $(DEPFLAGS) -c -o $@ $<
$(B)/tests/check_lock: $(call lobj,tests/check_lock.c $(STORE) $(COMPRESS))
$(B)/tests/check_config: $(call obj,tests/check_config.c daemon/config.c store/arena.c $(COMPRESS))
$(B)/tests/check_fuse: $(call obj,tests/check_fuse.c $(FUSE))
$(B)/tests/check_ctl: $(call obj,tests/check_ctl.c daemon/ctl.c daemon/ctl_commands.c daemon/log.c daemon/stats.c store/arena.c $(COMPRESS))
$(B)/tests/io_verify: $(call obj,tests/io_verify.c)
$(B)/tests/swapfill: $(call obj,tests/swapfill.c)
$(B)/tests/uzsock: $(call obj,tests/uzsock.c)
$(B)/tests/fuseram: $(call obj,tests/bench/fuseram.c $(FUSE))
$(B)/tests/dictbench: $(call obj,tests/bench/dictbench.c $(COMPRESS))
$(B)/tests/lz4dictbench: $(call obj,tests/bench/lz4dictbench.c $(STORE) $(COMPRESS))
$(addprefix $(B)/tests/,$(TESTS)):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/tests/io_verify $(B)/tests/swapfill $(B)/tests/uzsock $(B)/tests/fuseram $(B)/tests/dictbench $(B)/tests/lz4dictbench:
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer targets (clang), with ASan and UBSan, in build-fuzz/.
FUZZ_TARGETS := fuzz_ctl fuzz_config fuzz_afm fuzz_store
FZ := build-fuzz
FUZZ_TIME ?= 60
FUZZ_CHECK_TIME ?= 10
FUZZ_CFLAGS = -O1 -g -std=gnu11 -pthread -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -DUZ_LOCK_DEBUG $(WARN) $(PKG_CFLAGS)
fobj = $(patsubst %.c,$(FZ)/%.o,$(1))
$(FZ)/fuzz_ctl: $(call fobj,tests/fuzz/fuzz_ctl.c daemon/ctl.c daemon/log.c)
$(FZ)/fuzz_config: $(call fobj,tests/fuzz/fuzz_config.c daemon/config.c store/arena.c $(COMPRESS))
$(FZ)/fuzz_afm: $(call fobj,tests/fuzz/fuzz_afm.c store/lock.c store/afmalloc.c store/arena.c store/reserve.c)
$(FZ)/fuzz_store: $(call fobj,tests/fuzz/fuzz_store.c $(STORE) $(COMPRESS))
$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(addprefix $(FZ)/,$(FUZZ_TARGETS)):
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

-include $(wildcard $(B)/*/*.d $(B)/*/*/*.d $(FZ)/*/*.d $(FZ)/*/*/*.d)
# An object without its .d (built by an older Makefile) is built again.
$(foreach o,$(wildcard $(B)/*/*.o $(B)/*/*/*.o $(FZ)/*/*.o $(FZ)/*/*/*.o),$(if $(wildcard $(o:.o=.d)),,$(eval $(o): FORCE)))
FORCE:

BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
LIBEXECDIR := $(PREFIX)/libexec/uzram
UNITDIR := $(PREFIX)/lib/systemd/system
MANDIR := $(PREFIX)/share/man
DATADIR := $(PREFIX)/share/uzram
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	-e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'
INSTALLED := $(SBINDIR)/uzramd $(BINDIR)/uzramctl $(LIBEXECDIR)/uzram-mount $(LIBEXECDIR)/uzram-metrics \
	$(UNITDIR)/uzram-metrics.service $(UNITDIR)/uzram-metrics.timer $(UNITDIR)/uzram@.service $(DATADIR)/uzram.conf $(DATADIR)/swap.conf $(MANDIR)/man8/uzramd.8 $(MANDIR)/man8/uzramctl.8 \
	$(MANDIR)/man5/uzram.conf.5

install: all
	install -D -m 0755 $(BIN)uzramd $(DESTDIR)$(SBINDIR)/uzramd
	install -D -m 0755 $(BIN)uzramctl $(DESTDIR)$(BINDIR)/uzramctl
	mkdir -p $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(UNITDIR)
	$(SUBST) systemd/uzram-mount.in >$(DESTDIR)$(LIBEXECDIR)/uzram-mount
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/uzram-mount
	$(SUBST) systemd/uzram@.service.in >$(DESTDIR)$(UNITDIR)/uzram@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/uzram@.service
	$(SUBST) systemd/uzram-metrics.in >$(DESTDIR)$(LIBEXECDIR)/uzram-metrics
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/uzram-metrics
	$(SUBST) systemd/uzram-metrics.service.in >$(DESTDIR)$(UNITDIR)/uzram-metrics.service
	install -m 0644 systemd/uzram-metrics.timer $(DESTDIR)$(UNITDIR)/uzram-metrics.timer
	install -D -m 0644 conf/uzram.conf $(DESTDIR)$(DATADIR)/uzram.conf
	install -D -m 0644 conf/swap.conf $(DESTDIR)$(DATADIR)/swap.conf
	install -D -m 0644 daemon/uzramd.8 $(DESTDIR)$(MANDIR)/man8/uzramd.8
	install -D -m 0644 daemon/uzramctl.8 $(DESTDIR)$(MANDIR)/man8/uzramctl.8
	install -D -m 0644 daemon/uzram.conf.5 $(DESTDIR)$(MANDIR)/man5/uzram.conf.5

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) 2>/dev/null

# $(call apt_install,PACKAGES): a recipe line that installs those of the
# Debian packages that are missing.
apt_install = @missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Installs the Debian packages the build and the tests need, when missing.
deps:
	$(call apt_install,$(DEPS_DEB))

unit: $(addprefix $(B)/tests/,$(TESTS))
	@fail=0; for t in $^; do echo "== $$t"; $$t || fail=1; done; exit $$fail

NAME ?= disk0

# The main job: a device with the shipped configuration, ext4 on it, mounted.
run: deps
	$(MAKE) all
	daemon/uzram-up.sh $(NAME)

stop:
	daemon/uzram-down.sh $(NAME)

check: deps
	$(MAKE) all unit $(B)/tests/io_verify $(B)/tests/swapfill $(B)/tests/uzsock $(B)/tests/fuseram
	$(MAKE) fuzz FUZZ_TIME=$(FUZZ_CHECK_TIME)
	UZ_BIN=$(CURDIR)/$(BIN) UZ_TOOLS=$(CURDIR)/$(B)/tests tests/integration/run.sh
	$(if $(SANITIZE),,$(MAKE) valgrind)

# Each fuzz target for FUZZ_TIME seconds, starting from the committed
# corpus (tests/fuzz/corpus/TARGET, left as it is: new inputs go to
# build-fuzz/corpus/TARGET).  Fails on the first crash, leak or assertion.
fuzz: deps $(addprefix $(FZ)/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FZ)/corpus/$$t; \
		echo "== $$t: $(FUZZ_TIME) s"; \
		$(FZ)/$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
			-artifact_prefix=$(FZ)/$$t- $(FZ)/corpus/$$t tests/fuzz/corpus/$$t 2>$(FZ)/$$t.log || \
			{ tail -n 60 $(FZ)/$$t.log; echo "$$t: FAILED (log: $(FZ)/$$t.log)"; exit 1; }; \
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' $(FZ)/$$t.log; \
	done

# The unit suites under valgrind (CK_FORK=no: one process to watch).
valgrind: $(addprefix $(B)/tests/,$(TESTS))
	@fail=0; for t in $^; do echo "== valgrind $$t"; \
		CK_FORK=no valgrind -q --suppressions=tests/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect,possible \
			--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 $$t || fail=1; \
	done; exit $$fail

# What the benchmarks need besides the build: charts (gnuplot), fio, and
# nbdkit with nbdfuse (bench-io's comparison); installed when missing.
BENCH_DEB := gnuplot-nox fio nbdkit libnbd-bin
bench-deps: deps
	$(call apt_install,$(BENCH_DEB))

# Benchmarks print figures; nothing here is a pass/fail test.
bench: bench-deps
	$(MAKE) all
	tests/bench/extract.sh

# The afmalloc RFC's churn experiment, 10 cycles; several minutes.
bench-seed: bench-deps
	$(MAKE) all
	tests/bench/seed.sh $(if $(ARENA),--arena $(ARENA)) $(SEED_ARGS)

# Speed side by side: uzram, kernel zram, nbdkit zstd, the FUSE ceiling.
bench-io: bench-deps
	$(MAKE) all $(B)/tests/fuseram
	tests/bench/io.sh $(IO_ARGS)

# Swap side by side: uzram through a loop device, kernel zram (lz4).
bench-swap: bench-deps
	$(MAKE) all $(B)/tests/swapfill
	tests/bench/swap.sh $(SWAP_ARGS)

# A trained dictionary's gain per page, in the codec alone.
bench-dict: bench-deps
	$(MAKE) $(B)/tests/dictbench
	tests/bench/dict.sh $(DICT_ARGS)

# 4K read latency while dictionaries are trained, against none.
bench-train: bench-deps
	$(MAKE) all
	tests/bench/train.sh $(TRAIN_ARGS)

# The daemon's CPU time per GiB over each transport, alternating.
bench-cpu: bench-deps
	$(MAKE) all
	tests/bench/cpu.sh $(CPU_ARGS)

# The Debian package (debian/), built by dpkg-buildpackage in a copy of
# the working tree under DEB_BUILD: the files git tracks and the new ones
# it does not ignore, uncommitted changes included (without git: the tree
# less its build output).  The .deb files land in DEB_OUT (the top by
# default: apt-get install ./uzram_*.deb), the rest (.dsc, the source
# tarball, .changes, .buildinfo) in DEB_BUILD.  Missing build
# dependencies are installed first (apt-get build-dep on debian/control).
# This make's own flags stay out of the package's build (SANITIZE=...).
DEB_BUILD ?= build-deb
DEB_OUT ?= .
DEB_SRC = $(DEB_BUILD)/uzram-$(VERSION)
deb:
	$(call apt_install,dpkg-dev)
	@dpkg-checkbuilddeps 2>/dev/null || { echo "installing the build dependencies of debian/control"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./; }
	rm -rf $(DEB_BUILD) $(DEB_OUT)/uzram_*.deb $(DEB_OUT)/uzram-dbgsym_*.deb
	mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - ; \
	else \
		tar --exclude=./build --exclude='./build-*' --exclude=./$(DEB_BUILD) --exclude=./uzramd \
			--exclude=./uzramctl --exclude='./*.deb' -cf - . ; \
	fi | tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc
	mkdir -p $(DEB_OUT)
	$(if $(filter $(abspath $(DEB_BUILD)),$(abspath $(DEB_OUT))),,mv $(DEB_BUILD)/*.deb $(DEB_OUT)/)
	@ls -1 $(DEB_OUT)/uzram_*.deb $(DEB_OUT)/uzram-dbgsym_*.deb

# Lintian on what make deb built (the source package and the .deb files):
# fails on any error or warning (debian/source/lintian-overrides and
# debian/uzram.lintian-overrides justify those kept, one reason a line).
lintian:
	$(call apt_install,lintian)
	lintian --fail-on error,warning --display-info --display-experimental --pedantic $(DEB_BUILD)/uzram_*.dsc $(DEB_OUT)/uzram_*.deb $(DEB_OUT)/uzram-dbgsym_*.deb

clean:
	rm -rf build build-* uzramd uzramctl uzram_*.deb uzram-dbgsym_*.deb

.PHONY: FORCE all deps bench-deps unit check clean run stop bench bench-seed bench-io bench-swap bench-dict bench-train bench-cpu install uninstall fuzz valgrind deb lintian
