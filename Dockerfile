# Build stage: the Makefile drives javac/jar; mvn fetches the pinned jackson-core and the
# Makefile checks it against its SHA-256.
FROM eclipse-temurin:25-jdk AS build
RUN apt-get update && apt-get install -y --no-install-recommends make maven unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile run.sh ./
COPY src ./src
RUN make JAVA_HOME=/opt/java/openjdk build/holepunch.jar build/jvm.options

# Run stage: distroless Java 25, no shell, non-root.
FROM gcr.io/distroless/java25-debian13:nonroot
COPY --from=build /src/build/holepunch.jar /src/build/jvm.options /app/
USER nonroot
# The JVM settings run.sh uses, from the Makefile's JVM_OPTIONS (a java @argfile).
EXPOSE 8080 3478/udp
ENTRYPOINT ["java", "@/app/jvm.options", "-jar", "/app/holepunch.jar"]
CMD ["rendezvous"]
