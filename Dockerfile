# Build stage: the Makefile drives javac/jar; mvn fetches the pinned jackson-core and the
# Makefile checks it against its SHA-256.
FROM eclipse-temurin:25-jdk AS build
RUN apt-get update && apt-get install -y --no-install-recommends make maven unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile run.sh ./
COPY src ./src
RUN make JAVA_HOME=/opt/java/openjdk build/holepunch.jar build/jvm.options build/worker-jvm.options

# Run stage: distroless Java 25, no shell, non-root.
FROM gcr.io/distroless/java25-debian13:nonroot
COPY --from=build /src/build/holepunch.jar /src/build/jvm.options /src/build/worker-jvm.options /app/
# The AOT cache must be recorded for the jar at the path it runs from: a training run here (exec
# form: distroless has no shell), as `make` does for run.sh; as root, since /app is root's.
USER 0
RUN ["java", "@/app/jvm.options", "-XX:AOTCacheOutput=/app/holepunch.aot", "-jar", "/app/holepunch.jar", "train"]
RUN ["java", "@/app/worker-jvm.options", "-XX:AOTCacheOutput=/app/holepunch-worker.aot", "-jar", "/app/holepunch.jar", "train"]
USER nonroot
# The JVM settings run.sh uses, from the Makefile's JVM_OPTIONS (a java @argfile), and the AOT cache. A worker
# container runs with the worker's settings (the JIT's second tier for its cipher): --entrypoint java and the
# arguments @/app/worker-jvm.options -XX:AOTCache=/app/holepunch-worker.aot -jar /app/holepunch.jar worker.
EXPOSE 8080 3478/udp
ENTRYPOINT ["java", "@/app/jvm.options", "-XX:AOTCache=/app/holepunch.aot", "-jar", "/app/holepunch.jar"]
CMD ["rendezvous"]
