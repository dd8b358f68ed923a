/*
 * The C ABI from C: an incident's story (open, assign, resolve, query) through opsledger_rpc,
 * then the error cases (NULL pointers, invalid UTF-8, invalid JSON, zero lengths, closing NULL).
 * Use after close is undefined behaviour and is not exercised.
 *
 * Built and run by tests/c_story.rs: cc -std=c11 -Wall -Wextra -Werror -Iinclude story.c
 * libopsledger_ffi.a -lpthread -ldl -lm. Usage: story DATA_DIR. Exit status 0 on success.
 */
#include "opsledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
      failures++;                                                                      \
    }                                                                                  \
  } while (0)

/* The calling thread's last error message, in a static buffer. */
static const char *last_error(void) {
  static char buf[1024];
  size_t n = 0;
  if (opsledger_last_error_message(buf, sizeof buf, &n) != OPSLEDGER_STATUS_OK) {
    snprintf(buf, sizeof buf, "(message of %zu bytes does not fit)", n);
  }
  return buf;
}

/* Sends one message; returns a malloc'd NUL-terminated copy of the response (NULL: none).
 * The library's buffer is freed with opsledger_buf_free, never with free(). */
static char *rpc(const OpsledgerEngine *engine, const char *request, OpsledgerStatus *status) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  *status = opsledger_rpc(engine, (const uint8_t *)request, strlen(request), &out, &out_len);
  if (out == NULL) {
    return NULL;
  }
  char *copy = malloc(out_len + 1);
  memcpy(copy, out, out_len);
  copy[out_len] = '\0';
  opsledger_buf_free(out, out_len);
  return copy;
}

/* Sends a request that must succeed; returns the response (caller frees). */
static char *call(const OpsledgerEngine *engine, const char *request) {
  OpsledgerStatus st;
  char *response = rpc(engine, request, &st);
  CHECK(st == OPSLEDGER_STATUS_OK);
  CHECK(response != NULL);
  if (response == NULL) {
    return calloc(1, 1);
  }
  if (strstr(response, "\"error\"") != NULL) {
    fprintf(stderr, "unexpected error response to %s:\n  %s\n", request, response);
    failures++;
  }
  return response;
}

static OpsledgerEngine *open_engine(const char *config) {
  OpsledgerEngine *engine = NULL;
  OpsledgerStatus st =
      opsledger_engine_open((const uint8_t *)config, strlen(config), &engine);
  if (st != OPSLEDGER_STATUS_OK) {
    fprintf(stderr, "open %s: status %d: %s\n", config, (int)st, last_error());
    exit(2);
  }
  return engine;
}

#define ALICE "\"actor\": {\"id\": \"alice\", \"roles\": [\"agent\"]}"

static void story(const char *data_dir) {
  char config[4096];
  snprintf(config, sizeof config, "{\"data_dir\": \"%s\", \"durability\": \"per_commit\"}",
           data_dir);
  OpsledgerEngine *engine = open_engine(config);

  char *r = call(engine, "{\"jsonrpc\": \"2.0\", \"id\": 0, \"method\": \"rpc.discover\"}");
  CHECK(strstr(r, "\"openrpc\"") != NULL);
  free(r);
  r = call(engine,
           "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"incident.open\", \"params\": {" ALICE
           ", \"title\": \"Checkout fails with HTTP 500\", \"caller\": \"bob\","
           " \"impact\": \"high\", \"urgency\": \"high\", \"service\": \"payments\"}}");
  CHECK(strstr(r, "INC0000001") != NULL);
  free(r);
  r = call(engine,
           "{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"incident.assign\", \"params\": {" ALICE
           ", \"id\": \"INC0000001\", \"group\": \"web-oncall\", \"assignee\": \"alice\"}}");
  free(r);
  r = call(engine,
           "{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"incident.resolve\", \"params\": {" ALICE
           ", \"id\": \"INC0000001\", \"code\": \"solved_workaround\","
           " \"notes\": \"Rolled back the release\"}}");
  free(r);
  r = call(engine, "{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\": \"query.record\","
                   " \"params\": {\"id\": \"INC0000001\"}}");
  CHECK(strstr(r, "\"status\":\"resolved\"") != NULL);
  free(r);

  r = call(engine, "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"query.timeline\","
                   " \"params\": {\"id\": \"INC0000001\"}}");
  CHECK(strstr(r, "incident.resolved") != NULL);
  free(r);

  /* A refused command is a JSON-RPC error response (a domain code), with status OK. */
  OpsledgerStatus st;
  r = rpc(engine,
          "{\"jsonrpc\": \"2.0\", \"id\": 6, \"method\": \"incident.assign\", \"params\": {" ALICE
          ", \"id\": \"INC0000001\", \"group\": \"db\"}}",
          &st);
  CHECK(st == OPSLEDGER_STATUS_OK && r != NULL);
  CHECK(r != NULL && strstr(r, "\"error\"") != NULL && strstr(r, "\"domain_code\"") != NULL);
  free(r);

  CHECK(opsledger_engine_close(engine) == OPSLEDGER_STATUS_OK);

  /* Reopen: the story is on disk. */
  engine = open_engine(config);
  r = call(engine, "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"query.record\","
                   " \"params\": {\"id\": \"INC0000001\"}}");
  CHECK(strstr(r, "\"status\":\"resolved\"") != NULL);
  free(r);
  CHECK(opsledger_engine_close(engine) == OPSLEDGER_STATUS_OK);
}

static void error_cases(void) {
  OpsledgerEngine *engine = open_engine("{\"in_memory\": true}");
  OpsledgerStatus st;
  uint8_t *out = (uint8_t *)1;
  size_t out_len = 99;
  const char *discover = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":1}";

  /* Versions. */
  CHECK(opsledger_abi_version() == OPSLEDGER_ABI_VERSION);
  CHECK(strcmp(opsledger_version(), "opsledger-ffi/" OPSLEDGER_VERSION_STRING) == 0);

  /* NULL pointers everywhere. */
  CHECK(opsledger_engine_open((const uint8_t *)"{}", 2, NULL) == OPSLEDGER_STATUS_NULL_ARGUMENT);
  OpsledgerEngine *none = (OpsledgerEngine *)1;
  CHECK(opsledger_engine_open(NULL, 3, &none) == OPSLEDGER_STATUS_NULL_ARGUMENT);
  CHECK(none == NULL);
  CHECK(opsledger_engine_open(NULL, 0, &none) == OPSLEDGER_STATUS_INVALID_CONFIG);
  CHECK(strstr(last_error(), "empty configuration") != NULL);
  CHECK(opsledger_rpc(NULL, (const uint8_t *)discover, strlen(discover), &out, &out_len) ==
        OPSLEDGER_STATUS_NULL_ARGUMENT);
  CHECK(out == NULL && out_len == 0);
  CHECK(strcmp(last_error(), "`engine` is NULL") == 0);
  CHECK(opsledger_rpc(engine, (const uint8_t *)discover, strlen(discover), NULL, &out_len) ==
        OPSLEDGER_STATUS_NULL_ARGUMENT);
  CHECK(opsledger_rpc(engine, (const uint8_t *)discover, strlen(discover), &out, NULL) ==
        OPSLEDGER_STATUS_NULL_ARGUMENT);
  CHECK(opsledger_rpc(engine, NULL, 12, &out, &out_len) == OPSLEDGER_STATUS_NULL_ARGUMENT);
  CHECK(opsledger_last_error_message(NULL, 0, NULL) == OPSLEDGER_STATUS_NULL_ARGUMENT);
  opsledger_buf_free(NULL, 0);
  opsledger_buf_free(NULL, 42);

  /* The message protocol: ask for the length, then copy. */
  size_t n = 0;
  CHECK(opsledger_last_error_message(NULL, 0, &n) == OPSLEDGER_STATUS_BUFFER_TOO_SMALL);
  CHECK(n == strlen("`request` is NULL with a length of 12"));
  char small[4] = {'x', 'x', 'x', 'x'};
  CHECK(opsledger_last_error_message(small, sizeof small, &n) ==
        OPSLEDGER_STATUS_BUFFER_TOO_SMALL);
  CHECK(small[0] == 'x');

  /* Zero length (NULL pointer): an empty message is not JSON: a -32700 response, status OK. */
  CHECK(opsledger_rpc(engine, NULL, 0, &out, &out_len) == OPSLEDGER_STATUS_OK);
  CHECK(out != NULL && out_len > 0);
  opsledger_buf_free(out, out_len);
  char *r = rpc(engine, "", &st);
  CHECK(st == OPSLEDGER_STATUS_OK && r != NULL && strstr(r, "-32700") != NULL);
  free(r);
  CHECK(strcmp(last_error(), "") == 0); /* a success clears the message */

  /* Invalid UTF-8: a status, no response. */
  r = rpc(engine, "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"id\":1}", &st);
  CHECK(st == OPSLEDGER_STATUS_INVALID_UTF8 && r == NULL);
  CHECK(strstr(last_error(), "not UTF-8") != NULL);
  CHECK(opsledger_engine_open((const uint8_t *)"{\"in_memory\":\xfe}", 16, &none) ==
        OPSLEDGER_STATUS_INVALID_UTF8);

  /* Invalid JSON: a JSON-RPC -32700 response with status OK. */
  r = rpc(engine, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", \"baz]", &st);
  CHECK(st == OPSLEDGER_STATUS_OK && r != NULL && strstr(r, "\"code\":-32700") != NULL);
  free(r);

  /* Unknown method, invalid request: responses. Notifications: no response, status OK. */
  r = rpc(engine, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":7}", &st);
  CHECK(st == OPSLEDGER_STATUS_OK && r != NULL && strstr(r, "-32601") != NULL);
  free(r);
  r = rpc(engine, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}", &st);
  CHECK(st == OPSLEDGER_STATUS_OK && r == NULL);

  /* Invalid configurations. */
  const char *bad[] = {"{}", "{\"in_memory\": true, \"colour\": \"red\"}", "not json", "[1]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(opsledger_engine_open((const uint8_t *)bad[i], strlen(bad[i]), &none) ==
          OPSLEDGER_STATUS_INVALID_CONFIG);
    CHECK(none == NULL);
  }

#ifdef OPSLEDGER_DEBUG
  /* Debug builds: no buffer leaked so far; a panic poisons the handle. */
  CHECK(opsledger_debug_live_buffers() == 0);
  CHECK(opsledger_debug_panic(engine) == OPSLEDGER_STATUS_PANICKED);
  r = rpc(engine, discover, &st);
  CHECK(st == OPSLEDGER_STATUS_POISONED && r == NULL);
  CHECK(strstr(last_error(), "poisoned") != NULL);
#endif

  /* Closing NULL is harmless, twice. */
  CHECK(opsledger_engine_close(NULL) == OPSLEDGER_STATUS_OK);
  CHECK(opsledger_engine_close(NULL) == OPSLEDGER_STATUS_OK);
  CHECK(opsledger_engine_close(engine) == OPSLEDGER_STATUS_OK);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  story(argv[1]);
  error_cases();
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("story.c: all checks passed\n");
  return 0;
}
