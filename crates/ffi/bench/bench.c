/*
 * The C side of the C ABI benchmark: the same read (query.record) and write (a work note)
 * as benches/abi.rs, through opsledger_rpc on an in-memory engine. Prints
 * "name<TAB>ns_per_call" lines; the best of 5 rounds of N calls (argv[1], default 10000).
 * Built and run by run.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include "opsledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTES_PER_INCIDENT 1000
#define ACTOR "\"actor\":{\"id\":\"alice\",\"roles\":[\"agent\"]}"

static OpsledgerEngine *engine;
static char request[512];
static char target[32];

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The first occurrence of `needle` in `hay[0..len)`, or NULL (memmem is not in C11). */
static const char *find(const uint8_t *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++) {
    if (memcmp(hay + i, needle, n) == 0) return (const char *)hay + i;
  }
  return NULL;
}

/* Sends `request`; copies the response's "number" into `number` when asked. */
static void send(const char *req, char *number) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  if (opsledger_rpc(engine, (const uint8_t *)req, strlen(req), &out, &out_len) !=
          OPSLEDGER_STATUS_OK ||
      out == NULL || find(out, out_len, "\"result\"") == NULL) {
    fprintf(stderr, "call failed: %s -> %.*s\n", req, (int)out_len, out ? (char *)out : "");
    exit(1);
  }
  if (number != NULL) {
    const char *at = find(out, out_len, "\"number\":\"");
    memcpy(number, at + 10, 10);
    number[10] = '\0';
  }
  opsledger_buf_free(out, out_len);
}

static void open_incident(char *number) {
  send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"incident.open\",\"params\":{" ACTOR
       ",\"title\":\"target\",\"caller\":\"bob\",\"impact\":\"low\",\"urgency\":\"low\"}}",
       number);
}

static void read_once(long i) {
  (void)i;
  send(request, NULL);
}

static void write_once(long i) {
  if (i % NOTES_PER_INCIDENT == 0 || target[0] == '\0') {
    open_incident(target);
  }
  char note[512];
  snprintf(note, sizeof note,
           "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"incident.add_work_note\",\"params\":{" ACTOR
           ",\"id\":\"%s\",\"text\":\"note %ld\"}}",
           target, i);
  send(note, NULL);
}

static double best_of(long n, void (*f)(long)) {
  for (long i = 0; i < n / 10; i++) f(i);
  double best = 1e300;
  for (int round = 0; round < 5; round++) {
    double start = now_ns();
    for (long i = 0; i < n; i++) f((long)round * n + i);
    double per = (now_ns() - start) / (double)n;
    if (per < best) best = per;
  }
  return best;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  const char *config = "{\"in_memory\": true}";
  if (opsledger_engine_open((const uint8_t *)config, strlen(config), &engine) !=
      OPSLEDGER_STATUS_OK) {
    fprintf(stderr, "open failed\n");
    return 1;
  }
  char number[32];
  open_incident(number);
  snprintf(request, sizeof request,
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"query.record\",\"params\":{\"id\":\"%s\"}}",
           number);
  printf("c-abi read\t%.0f\n", best_of(n, read_once));
  printf("c-abi write\t%.0f\n", best_of(n, write_once));
  return opsledger_engine_close(engine) == OPSLEDGER_STATUS_OK ? 0 : 1;
}
