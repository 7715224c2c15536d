# holepunch build: javac and jar driven by make, no Maven/Gradle build.
#   make          build/holepunch.jar (jackson-core shaded in) and its AOT cache, build/holepunch.aot
#   make check    the fast suite: no NAT lab, fuzzing or process tests; under 30 s, no root needed
#   make test     compile and run every JUnit test (exit status non-zero on any failure)
#   make bench    print the performance figures (see README)
#   make clean
# The JDK 25 is found by run.sh (JAVA_HOME, then /usr/lib/jvm); dependencies come from Maven
# Central through the mvn client, pinned here and checked against the SHA-256 sums below.

SHELL := /bin/bash
JAVA_HOME := $(shell ./run.sh --java-home 2>/dev/null)
JAVAC = $(JAVA_HOME)/bin/javac
JAVA = $(JAVA_HOME)/bin/java
JAR = $(JAVA_HOME)/bin/jar

VERSION := 0.1.0
DEPS := .deps
JACKSON := com.fasterxml.jackson.core:jackson-core:2.20.1
JACKSON_JAR := $(DEPS)/jackson-core-2.20.1.jar
JACKSON_SHA256 := ffab4d957daa2796cf24cb66d0b78a7090f1bcbe17c3a4578f09affaaf137089
JUNIT := org.junit.platform:junit-platform-console-standalone:1.11.4
JUNIT_JAR := $(DEPS)/junit-platform-console-standalone-1.11.4.jar
JUNIT_SHA256 := b016ef6b1c3454d6d7c2c88ce081dabf289699686af6622d6e4e2e1b54b4a2fc

SRCS := $(shell find src/holepunch -name '*.java')
# Files the jar serves as they are (the operator page: src/holepunch/rendezvous/ui).
RESOURCES := $(shell find src/holepunch -type f ! -name '*.java')
# The entry point is compiled for Java 8, so an older java can say in one line which Java it needs.
LAUNCHER := src/launcher/holepunch/Launcher.java
TEST_SRCS := $(shell find test -name '*.java' 2>/dev/null)
OPENS := --add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
TEST_JVM_FLAGS := $(OPENS) -Xss512k -XX:+UseSerialGC -Dsun.net.httpserver.maxReqTime=2
TEST_ARGS ?= --scan-class-path

.PHONY: all test check test-tools bench natlab clean jdk deps
all: build/holepunch.jar build/holepunch.aot build/holepunch-worker.aot

jdk:
	@test -n "$(JAVA_HOME)" || { ./run.sh --java-home; exit 1; }

# $(1) artifact, $(2) pinned SHA-256: fetched into $(DEPS) and refused on a mismatch.
define fetch
	@mkdir -p $(DEPS)
	@echo "fetching $(1) (mvn)"
	@mvn -q -B dependency:copy -Dartifact=$(1) -DoutputDirectory=$(DEPS) >$(DEPS)/mvn.log 2>&1 \
	  || { cat $(DEPS)/mvn.log; echo "error: mvn could not fetch $(1)" >&2; exit 1; }
	@echo "$(2)  $@" | sha256sum --quiet -c - 2>/dev/null \
	  || { echo "error: $@ does not match the SHA-256 pinned in the Makefile ($(2)); removed it" >&2; rm -f $@; exit 1; }
	@touch $@
endef

$(JACKSON_JAR):
	$(call fetch,$(JACKSON),$(JACKSON_SHA256))

$(JUNIT_JAR):
	$(call fetch,$(JUNIT),$(JUNIT_SHA256))

deps: $(JACKSON_JAR) $(JUNIT_JAR)

build/classes.stamp: $(SRCS) $(RESOURCES) $(LAUNCHER) $(JACKSON_JAR) | jdk
	@rm -rf build/classes && mkdir -p build/classes
	$(JAVAC) --release 25 -Xlint:all,-serial -Werror -encoding UTF-8 -d build/classes -cp $(JACKSON_JAR) $(SRCS)
	@cd src && for f in $(RESOURCES:src/%=%); do mkdir -p ../build/classes/$$(dirname $$f) && cp $$f ../build/classes/$$f; done
	$(JAVAC) --release 8 -Xlint:all,-options -Werror -encoding UTF-8 -d build/classes $(LAUNCHER)
	@touch $@

build/shaded.stamp: $(JACKSON_JAR)
	@rm -rf build/shaded && mkdir -p build/shaded/META-INF/jackson-core
	@cd build/shaded && unzip -q -o ../../$(JACKSON_JAR) 'com/*' 'META-INF/services/*'
	@unzip -q -o -j $(JACKSON_JAR) 'META-INF/LICENSE' 'META-INF/NOTICE' -d build/shaded/META-INF/jackson-core
	@touch $@

# The tuned JVM settings, in one place: run.sh and the container read build/jvm.options (a java
# @argfile), and README points here. A small young generation with room for a registration burst
# keeps RSS near the live data (the HTTP server makes ~30 KB of short-lived garbage per connection),
# and a small initial heap lets it shrink back after a burst (HeapSettler collects it whole then);
# C1 alone compiles this I/O-bound service well enough at far less CPU and memory than C2; an
# OutOfMemoryError ends the process, so that a supervisor restarts it (see README, Security).
JVM_OPTIONS := -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms32m -Xmn24m -XX:SurvivorRatio=2 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:-ShrinkHeapInSteps -XX:+ExitOnOutOfMemoryError

# The worker carries application traffic: its ChaCha20-Poly1305 runs on the JDK's C2 intrinsics (AVX2/AVX-512
# ChaCha20 blocks and Poly1305), which C1 alone does not use: measured 3x the forwarding rate with C2. So the
# worker keeps the tiered compilers; the rest of the settings are the rendezvous's.
WORKER_JVM_OPTIONS := $(filter-out -XX:TieredStopAtLevel=1,$(JVM_OPTIONS))

build/jvm.options: Makefile
	@mkdir -p build
	@printf '%s\n' $(JVM_OPTIONS) > $@

build/worker-jvm.options: Makefile
	@mkdir -p build
	@printf '%s\n' $(WORKER_JVM_OPTIONS) > $@

build/manifest.txt: Makefile
	@mkdir -p build
	@printf 'Main-Class: holepunch.Launcher\nAdd-Opens: jdk.httpserver/sun.net.httpserver java.base/sun.nio.ch\nImplementation-Title: holepunch\nImplementation-Version: $(VERSION)\nEnable-Native-Access: ALL-UNNAMED\n' > $@

build/holepunch.jar: build/classes.stamp build/shaded.stamp build/manifest.txt build/jvm.options
	$(JAR) --create --file $@ --manifest build/manifest.txt -C build/classes . -C build/shaded .

# The JDK's ahead-of-time cache (JEPs 483, 514, 515): classes loaded, linked and profiled in a
# training run (`holepunch.jar train`: a rendezvous and two workers on loopback up to a direct path),
# so that run.sh and the container start in a fraction of the time. It fits this jar and JVM_OPTIONS.
build/holepunch.aot: build/holepunch.jar build/jvm.options
	@$(JAVA) @build/jvm.options -XX:AOTCacheOutput=$@ -Xlog:aot=error -Xlog:cds=error -jar build/holepunch.jar train >build/aot.log 2>&1 \
	  || { cat build/aot.log; echo "error: the AOT training run failed" >&2; exit 1; }

# The same for the worker's settings (an AOT cache fits the JVM options it was recorded with).
build/holepunch-worker.aot: build/holepunch.jar build/worker-jvm.options
	@$(JAVA) @build/worker-jvm.options -XX:AOTCacheOutput=$@ -Xlog:aot=error -Xlog:cds=error -jar build/holepunch.jar train >build/aot-worker.log 2>&1 \
	  || { cat build/aot-worker.log; echo "error: the worker's AOT training run failed" >&2; exit 1; }

build/test-classes.stamp: $(TEST_SRCS) build/holepunch.jar $(JUNIT_JAR) | jdk
	@rm -rf build/test-classes && mkdir -p build/test-classes
	$(JAVAC) --release 25 -Xlint:all,-serial,-try -encoding UTF-8 -d build/test-classes -cp build/holepunch.jar:$(JUNIT_JAR) $(TEST_SRCS)
	@touch $@

# Programs the interop tests run (Debian packages), installed when missing and we are root.
test-tools:
	@missing=""; \
	for t in chromium:chromium turnserver:coturn turnutils_stunclient:coturn ip:iproute2 iptables:iptables conntrack:conntrack tcpdump:tcpdump promtool:prometheus redis-server:redis-server openssl:openssl curl:curl haproxy:haproxy miniupnpd:miniupnpd-iptables iptables-legacy:iptables; do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	/usr/bin/python3 -c 'import aioice' 2>/dev/null || missing="$$missing python3-aioice"; \
	/usr/bin/python3 -c 'import fastapi, uvicorn, websockets' 2>/dev/null || missing="$$missing python3-fastapi python3-uvicorn python3-websockets"; \
	if command -v miniupnpd >/dev/null && ! miniupnpd --version 2>&1 | grep -q 'iptables'; then \
	  echo "the NAT lab needs miniupnpd's iptables backend; this one is $$(miniupnpd --version 2>&1 | sed -n 's/.*using \(.*\) backend.*/\1/p'): replacing it with miniupnpd-iptables"; \
	  missing="$$missing miniupnpd-iptables"; fi; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing test tools: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "the interop tests need the Debian packages: $$missing (install them as root)" >&2; exit 1; fi; \
	fi

# What the benchmarks run beside ours (Debian packages): gcc builds the UDP sender and receiver, and
# wireguard-go is the forwarding bench's yardstick. Installed when missing and we are root; without
# them the parts that need them say so and are skipped.
.PHONY: bench-tools
bench-tools:
	@missing=""; for t in gcc:gcc wireguard-go:wireguard-go wg:wireguard-tools; do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then echo "installing bench tools:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "the benchmarks would use:$$missing (install them as root)" >&2; fi; \
	fi

# Runs JUnit's console launcher, then prints one plain "N passed, N failed" line from its summary and, after
# it, each failed test with its message (CI shows the end of the output).
# The AOT cache too: its training run is part of the build users get from run.sh, and RunScriptTest starts run.sh.
test: build/test-classes.stamp build/holepunch.aot build/holepunch-worker.aot test-tools
	@$(MAKE) -s test-run TEST_ARGS="$(TEST_ARGS)"

.PHONY: test-run
test-run:
	@set -o pipefail; $(JAVA) $(TEST_JVM_FLAGS) -jar $(JUNIT_JAR) execute --disable-banner --disable-ansi-colors --details=tree \
	  --class-path build/test-classes:build/holepunch.jar $(TEST_ARGS) 2>&1 | tee build/test.log; rc=$$?; \
	  ok=$$(sed -n 's/^\[ *\([0-9]*\) tests successful.*/\1/p' build/test.log); \
	  bad=$$(sed -n 's/^\[ *\([0-9]*\) tests failed.*/\1/p' build/test.log); \
	  skip=$$(sed -n 's/^\[ *\([0-9]*\) tests skipped.*/\1/p' build/test.log); \
	  echo "junit: $${ok:-0} passed, $${bad:-0} failed, $${skip:-0} skipped"; \
	  if [ "$${bad:-0}" != 0 ]; then echo "failed:"; sed -n '/^Failures (/,/^Test run finished/p' build/test.log \
	    | grep -E '^  JUnit |^    => ' | cut -c1-400 | head -40; fi; exit $$rc

# The fast loop while changing code: JUnit tags "slow" (fuzzing, real processes, interop with other
# programs, captures) and "lab" (the NAT lab, root) are left out. CI runs `make test`, which runs all.
check: build/test-classes.stamp
	@$(MAKE) -s test-run TEST_ARGS="--scan-class-path --exclude-tag slow --exclude-tag lab"

# The load client shares the cores with the servers it measures: a one-thread collector keeps its
# garbage collection off the other core (measured: ~7% more registrations/s than with G1).
BENCH_JVM_OPTS ?= -XX:+UseSerialGC -Xmn64m

bench: build/test-classes.stamp build/holepunch.aot build/holepunch-worker.aot bench-tools
	$(JAVA) $(BENCH_JVM_OPTS) $(OPENS) -cp build/test-classes:build/holepunch.jar holepunch.bench.Bench $(BENCH_ARGS)

# Every pair of the NAT lab's router types, as a grid of direct/relay and time to direct (root: network namespaces).
natlab: build/test-classes.stamp test-tools
	@test "$$(id -u)" = 0 || { echo "make natlab builds network namespaces: run it as root" >&2; exit 1; }
	@cp build/holepunch.jar build/natlab.jar     # the grid runs a while: a rebuild meanwhile does not touch it
	$(JAVA) $(OPENS) -Dholepunch.jar=build/natlab.jar -cp build/test-classes:build/natlab.jar holepunch.bench.NatGrid $(NATLAB_TYPES)

clean:
	rm -rf build
