/*
** Checked JSON writing: a value jansson cannot make (invalid UTF-8, a
** number that is not finite) is an error naming its field, never a key
** silently left out; every value handed over is released either way
** (ASan's leak check sees to that).
*/
#include "jw.h"

#include "err.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static void test_object(void) {
    char err[ERR_LEN] = "";
    json_t *o = jw_object(err, "a", json_integer(1), "b", json_string("x"), "c", json_null());
    CHECK(o != NULL);
    char *s = jw_dumps(o, JSON_COMPACT | JSON_SORT_KEYS, "o", err);
    CHECK_STR(s, "{\"a\":1,\"b\":\"x\",\"c\":null}");
    free(s);
    /* invalid UTF-8: the field is named, the values after it released */
    o = jw_object(err, "a", json_integer(1), "text", json_string("bad \xff"), "c",
                  json_string("later"));
    CHECK(o == NULL);
    CHECKF(strstr(err, "field 'text'") != NULL, "%s", err);
    /* a number that is not finite */
    o = jw_object(err, "temperature", json_real(INFINITY));
    CHECK(o == NULL);
    CHECKF(strstr(err, "field 'temperature'") != NULL, "%s", err);
    o = jw_object(err, "loss", json_real(NAN), "n", json_integer(2));
    CHECK(o == NULL);
    CHECKF(strstr(err, "field 'loss'") != NULL, "%s", err);
}

static void test_set_append_print(void) {
    char err[ERR_LEN] = "";
    json_t *o = json_object();
    CHECK(jw_set(o, "k", json_integer(3), err) == 0);
    CHECK(jw_set(o, "bad\xfe", json_integer(4), err) == -1); /* a key jansson refuses */
    CHECKF(strstr(err, "field 'bad") != NULL, "%s", err);
    CHECK(jw_set(o, "x", NULL, err) == -1);
    CHECK(json_object_size(o) == 1);
    json_t *a = json_array();
    CHECK(jw_append(a, json_string("ok"), "the list", err) == 0);
    CHECK(jw_append(a, json_string("\xc3"), "the list", err) == -1);
    CHECKF(strstr(err, "the list") != NULL, "%s", err);
    CHECK(jw_set(o, "list", a, err) == 0);
    FILE *f = tmpfile();
    CHECK(jw_print(f, o, JSON_COMPACT | JSON_SORT_KEYS, "o", err) == 0);
    rewind(f);
    char line[128] = "";
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR(line, "{\"k\":3,\"list\":[\"ok\"]}\n");
    fclose(f);
    CHECK(jw_dumps(NULL, 0, "nothing", err) == NULL);
    CHECKF(strstr(err, "nothing") != NULL, "%s", err);
}

/* jw_push releases the list on a failure, so a loop stops on NULL. */
static void test_push(void) {
    char err[ERR_LEN] = "";
    json_t *a = json_array();
    CHECK(jw_push(&a, json_integer(1), "ids", err) == 0 && a && json_array_size(a) == 1);
    CHECK(jw_push(&a, json_real(NAN), "ids", err) == -1 && a == NULL);
    CHECKF(strstr(err, "ids") != NULL, "%s", err);
    CHECK(jw_push(&a, json_integer(2), "ids", err) == -1 && a == NULL);
}

int main(void) {
    RUN(test_object);
    RUN(test_set_append_print);
    RUN(test_push);
    return TEST_SUMMARY();
}
