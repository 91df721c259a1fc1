/*
** Scoring: windowed mean cross-entropy against the PyTorch reference
** (tests/reference/score_ref.py), and its errors.
*/
#include "err.h"
#include "gpt_fixture.h"
#include "score.h"
#include "test.h"

static void test_windows_match_reference(void) {
    json_error_t je;
    json_t *ref = json_load_file("tests/fixtures/gpt/score.json", 0, &je);
    CHECK(ref != NULL);
    const char *name;
    json_t *fx;
    json_object_foreach(ref, name, fx) {
        gpt_config cfg;
        float *params;
        char err[ERR_LEN];
        CHECK(gpt_fixture_load(name, &cfg, &params) == 0);
        gpt_model *m;
        CHECK(gpt_model_create(&cfg, params, &m, err) == 0);
        json_t *ja = json_object_get(fx, "ids");
        size_t n = json_array_size(ja);
        int32_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ja, i));
        CHECKF(n > 2 * (size_t)cfg.n_positions, "%s: the text must span several windows", name);
        double loss;
        size_t predicted;
        CHECKF(score_ids(m, ids, n, &loss, &predicted, err) == 0, "%s", err);
        CHECK_EQ_INT(predicted, json_integer_value(json_object_get(fx, "predicted")));
        /* fp32 logits of magnitude ~10 through log-softmax: relative error
        ** ~1e-6 per term; 1e-5 relative on the mean leaves a wide margin. */
        CHECK_CLOSE(loss, json_real_value(json_object_get(fx, "loss")), 0, 1e-5);
        CHECK(score_ids(m, ids, 1, &loss, &predicted, err) == -1);
        CHECKF(strstr(err, "at least 2") != NULL, "%s", err);
        ids[3] = cfg.vocab_size; /* out of range */
        CHECK(score_ids(m, ids, n, &loss, &predicted, err) == -1);
        free(ids);
        gpt_model_free(m);
        free(params);
    }
    json_decref(ref);
}

int main(void) {
    RUN(test_windows_match_reference);
    return TEST_SUMMARY();
}
