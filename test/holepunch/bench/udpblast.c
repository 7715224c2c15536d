/*
 * udpblast: the bench's UDP sender and receiver, outside the JVM so that they cost the shared
 * cores what an application's would (one thread each, batched system calls).
 *
 *   udpblast send PORT RATE SECONDS SIZE [HOST]
 *                                           datagrams of SIZE bytes to HOST:PORT (127.0.0.1), RATE a second
 *                                           (0: as fast as it can), for SECONDS; prints "sent N"
 *   udpblast recv PORT SECONDS IDLE_MS [ADDR]
 *                                           counts datagrams on ADDR:PORT (127.0.0.1) until SECONDS have passed
 *                                           or nothing came for IDLE_MS after the first; prints
 *                                           "received N first_to_last_us T"
 *
 * Each datagram starts with its sequence number (8 bytes). Bounded in time; no allocation in the loop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t) t.tv_sec * 1000000000ull + (uint64_t) t.tv_nsec;
}

static int do_send(int port, long rate, double seconds, int size, const char *host) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); return 1; }
    if (connect(s, (struct sockaddr *) &to, sizeof to) != 0) { perror("connect"); return 1; }
    static char bufs[BATCH][65536];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t start = now_ns(), end = start + (uint64_t) (seconds * 1e9);
    uint64_t seq = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        long due = rate > 0 ? (long) ((double) (t - start) * rate / 1e9) + 1 - (long) seq : BATCH;
        if (due <= 0) {
            struct timespec nap = {0, 50000};            /* 50 us: paced in small batches */
            nanosleep(&nap, NULL);
            continue;
        }
        int n = due > BATCH ? BATCH : (int) due;
        for (int i = 0; i < n; i++) memcpy(bufs[i], &(uint64_t){seq + i}, 8);
        int sent = sendmmsg(s, msgs, n, 0);
        if (sent < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) { seq += n; continue; }   /* dropped at the sender: counted as sent */
            perror("sendmmsg");
            return 1;
        }
        seq += sent;
    }
    printf("sent %llu\n", (unsigned long long) seq);
    return 0;
}

static int do_recv(int port, double seconds, int idle_ms, const char *addr) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &at.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 1; }
    if (bind(s, (struct sockaddr *) &at, sizeof at) != 0) { perror("bind"); return 1; }
    struct timeval tv = {0, 20000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    printf("ready\n");
    fflush(stdout);
    static char bufs[BATCH][65536];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t start = now_ns(), end = start + (uint64_t) (seconds * 1e9), first = 0, last = 0, count = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end || (first && t - last > (uint64_t) idle_ms * 1000000ull)) break;
        int n = recvmmsg(s, msgs, BATCH, 0, NULL);
        if (n <= 0) continue;
        t = now_ns();
        if (!first) first = t;
        last = t;
        count += n;
    }
    printf("received %llu first_to_last_us %llu\n", (unsigned long long) count, (unsigned long long) (first ? (last - first) / 1000 : 0));
    return 0;
}

int main(int argc, char **argv) {
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "send") == 0)
        return do_send(atoi(argv[2]), atol(argv[3]), atof(argv[4]), atoi(argv[5]), argc == 7 ? argv[6] : "127.0.0.1");
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "recv") == 0)
        return do_recv(atoi(argv[2]), atof(argv[3]), atoi(argv[4]), argc == 6 ? argv[5] : "127.0.0.1");
    fprintf(stderr, "usage: udpblast send PORT RATE SECONDS SIZE | recv PORT SECONDS IDLE_MS\n");
    return 2;
}
