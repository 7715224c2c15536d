# Build stage: the Makefile drives javac/jar; mvn fetches the pinned jackson-core and the
# Makefile checks it against its SHA-256.
FROM eclipse-temurin:25-jdk AS build
RUN apt-get update && apt-get install -y --no-install-recommends make maven unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile run.sh ./
COPY src ./src
RUN make JAVA_HOME=/opt/java/openjdk build/holepunch.jar

# Run stage: distroless Java 25, no shell, non-root.
FROM gcr.io/distroless/java25-debian13:nonroot
COPY --from=build /src/build/holepunch.jar /app/holepunch.jar
USER nonroot
# Same JVM settings as run.sh: a small young generation keeps RSS near the live data.
ENV JDK_JAVA_OPTIONS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmn24m -XX:SurvivorRatio=2 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:+ExitOnOutOfMemoryError"
EXPOSE 8080 3478/udp
ENTRYPOINT ["java", "-jar", "/app/holepunch.jar"]
CMD ["rendezvous"]
