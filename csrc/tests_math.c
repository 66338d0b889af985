/* Tests of the arithmetic: the NumPy engine's reference (reference.txt, written by
 * tests/make_reference.py) checked tensor by tensor, as llm.c's test_gpt2 does: activations,
 * logits, losses, gradients and parameters after a step for every activation, loss and optimizer;
 * the learning-rate schedules and np.sum's order from the same file. Then gradients against finite
 * differences, per-sample SGD by hand, the optimizers' first steps, extremes that must
 * stay finite, and refusals. Built in float64 (test_math) and float32 (test_math32: its cases).
 * No framework: the last line says "N passed, N failed"; the exit status is non-zero on failure.
 * Usage: test_math [REFERENCE] (default: reference.txt beside the program).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"


#ifdef SN_FLOAT32
#define TOLERANCE 1e-4
#else
#define TOLERANCE 1e-12
#endif

static const char *const ACTIVATIONS[] = {"sigmoid", "tanh", "relu", "softmax"};
static const char *const LOSSES[] = {"bce", "cross_entropy", "mse"};

/* ------------------------------------------------------------------------------------------ */
/* helpers */

static uint64_t random_state = 42;

static double uniform(double low, double high) { /* splitmix64 */
    uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return low + (high - low) * (double)(z >> 11) * 0x1.0p-53;
}

static int64_t layer_size(const sn_net *net, int l) { return (int64_t)net->sizes[l] * net->sizes[l + 1]; }

static void make_net(sn_net *net, int layers, const int *sizes, int hidden, int output, double scale) {
    memset(net, 0, sizeof *net);
    net->n_layers = layers;
    memcpy(net->sizes, sizes, sizeof(int) * (size_t)(layers + 1));
    net->hidden = hidden;
    net->output = output;
    for (int l = 0; l < layers; l++) {
        net->weights[l] = malloc(sizeof(real) * (size_t)layer_size(net, l));
        net->biases[l] = malloc(sizeof(real) * (size_t)sizes[l + 1]);
        for (int64_t i = 0; i < layer_size(net, l); i++) net->weights[l][i] = (real)uniform(-scale, scale);
        for (int j = 0; j < sizes[l + 1]; j++) net->biases[l][j] = (real)uniform(-scale / 2, scale / 2);
    }
}

static void copy_net(sn_net *to, const sn_net *from) {
    *to = *from;
    for (int l = 0; l < from->n_layers; l++) {
        to->weights[l] = malloc(sizeof(real) * (size_t)layer_size(from, l));
        to->biases[l] = malloc(sizeof(real) * (size_t)from->sizes[l + 1]);
        memcpy(to->weights[l], from->weights[l], sizeof(real) * (size_t)layer_size(from, l));
        memcpy(to->biases[l], from->biases[l], sizeof(real) * (size_t)from->sizes[l + 1]);
    }
}

static void free_net(sn_net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        free(net->weights[l]);
        free(net->biases[l]);
    }
    memset(net, 0, sizeof *net);
}

/* every parameter of the net, in order: w0, b0, w1, b1, ... */
static int64_t n_params(const sn_net *net) {
    int64_t n = 0;
    for (int l = 0; l < net->n_layers; l++) n += layer_size(net, l) + net->sizes[l + 1];
    return n;
}

static real *param(sn_net *net, int64_t i) {
    for (int l = 0; l < net->n_layers; l++) {
        if (i < layer_size(net, l)) return &net->weights[l][i];
        i -= layer_size(net, l);
        if (i < net->sizes[l + 1]) return &net->biases[l][i];
        i -= net->sizes[l + 1];
    }
    return NULL;
}

/* An optimizer of `kind` with every state array allocated, zero, as a new Python Optimizer's. */
static sn_optimizer_state new_state(const sn_net *net, int kind, double momentum, double weight_decay) {
    sn_optimizer_state opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = kind;
    opt.momentum = momentum;
    opt.weight_decay = weight_decay;
    for (int l = 0; l < net->n_layers; l++) {
        opt.velocity_w[l] = calloc((size_t)layer_size(net, l), sizeof(real));
        opt.m_w[l] = calloc((size_t)layer_size(net, l), sizeof(real));
        opt.v_w[l] = calloc((size_t)layer_size(net, l), sizeof(real));
        opt.velocity_b[l] = calloc((size_t)net->sizes[l + 1], sizeof(real));
        opt.m_b[l] = calloc((size_t)net->sizes[l + 1], sizeof(real));
        opt.v_b[l] = calloc((size_t)net->sizes[l + 1], sizeof(real));
    }
    return opt;
}

static void free_state(sn_optimizer_state *opt) {
    for (int l = 0; l < SN_MAX_LAYERS; l++) {
        free(opt->velocity_w[l]), free(opt->m_w[l]), free(opt->v_w[l]);
        free(opt->velocity_b[l]), free(opt->m_b[l]), free(opt->v_b[l]);
    }
}

/* the mean loss of a batch, without changing anything (lr 0) */
static double batch_loss(sn_net *net, int loss, const uint8_t *images, const uint8_t *labels, int64_t n) {
    double mean = NAN;
    if (sn_train_samples(net, NULL, loss, images, labels, NULL, n, (int)n, 0.0, &mean, NULL, NULL, NULL))
        printf("batch_loss: %s\n", sn_error());
    return mean;
}

static void random_batch(uint8_t *images, uint8_t *labels, int64_t n, int pixels, int classes) {
    for (int64_t i = 0; i < n * pixels; i++) images[i] = uniform(0, 1) < 0.4 ? 0 : (uint8_t)uniform(1, 256);
    for (int64_t s = 0; s < n; s++) labels[s] = (uint8_t)uniform(0, classes);
}

/* a random batch of n samples for `net` and sn_predict's outputs of it */
static void predict_random_batch(const sn_net *net, uint8_t *images, uint8_t *labels, int64_t n, real *outputs) {
    random_batch(images, labels, n, net->sizes[0], net->sizes[net->n_layers]);
    CHECK(sn_predict(net, images, n, outputs) == 0, "predict: %s", sn_error());
}

/* ------------------------------------------------------------------------------------------ */
/* gradients: one step of plain SGD at lr 1 moves every parameter by minus its gradient. A batch of
   one takes momentum from rest, whose first step is the same: any optimizer but plain SGD makes
   batch size 1 a batch of one, every layer's gradient from the weights of the forward pass. */

static void test_gradients(int hidden, int output, int loss, int64_t n) {
    const int sizes[] = {12, 5, 4, 3};
    sn_net net, stepped;
    make_net(&net, 3, sizes, hidden, output, 0.8);
    uint8_t images[5 * 12], labels[5];
    random_batch(images, labels, n, sizes[0], sizes[3]);
    copy_net(&stepped, &net);
    sn_optimizer_state momentum = new_state(&net, SN_MOMENTUM, 0.9, 0);
    double mean;
    int status = sn_train_samples(&stepped, n == 1 ? &momentum : NULL, loss, images, labels, NULL, n, (int)n, 1.0, &mean,
                                NULL, NULL, NULL);
    free_state(&momentum);
    CHECK(status == 0, "train_epoch: %s", sn_error());
    CHECK(fabs(mean - batch_loss(&net, loss, images, labels, n)) <= 1e-15 * fabs(mean),
          "the loss reported is the loss before the step");
    const double h = sizeof(real) == 8 ? 1e-5 : 2e-3;
    double worst = 0;
    int64_t worst_at = -1;
    for (int64_t i = 0; i < n_params(&net); i++) {
        real *p = param(&net, i);
        const real saved = *p;
        *p = saved + (real)h;
        const double up = batch_loss(&net, loss, images, labels, n);
        *p = saved - (real)h;
        const double down = batch_loss(&net, loss, images, labels, n);
        *p = saved;
        const double numeric = (up - down) / (2 * h);
        const double analytic = (double)saved - (double)*param(&stepped, i);
        const double error = fabs(numeric - analytic) / (1e-3 + fabs(numeric));
        if (error > worst) worst = error, worst_at = i;
    }
    const double allowed = sizeof(real) == 8 ? 1e-7 : 5e-2;
    CHECK(worst <= allowed, "gradient of %s hidden, %s output, %s loss, batch of %lld: relative error %.3g at "
          "parameter %lld", ACTIVATIONS[hidden], ACTIVATIONS[output], LOSSES[loss], (long long)n, worst,
          (long long)worst_at);
    free_net(&net);
    free_net(&stepped);
}

/* ------------------------------------------------------------------------------------------ */
/* per-sample SGD (sn_sgd_sample_step), by hand: 3-2-2 sigmoid, one image, lr 0.5 */

static double sig(double z) { return 1 / (1 + exp(-z)); }

static void test_sample_sgd(void) {
    const int sizes[] = {3, 2, 2};
    real w0[] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.25}, b0[] = {0.05, -0.1};
    real w1[] = {0.2, -0.3, -0.4, 0.1}, b1[] = {0.0, 0.3};
    sn_net net;
    memset(&net, 0, sizeof net);
    net.n_layers = 2;
    memcpy(net.sizes, sizes, sizeof sizes);
    net.hidden = net.output = SN_SIGMOID;
    net.weights[0] = w0, net.biases[0] = b0, net.weights[1] = w1, net.biases[1] = b1;
    const uint8_t image[] = {0, 255, 51}, label = 1;
    const double lr = 0.5;

    /* by hand, in its order: the last layer first, then the error through its new weights */
    const double x[] = {0, 1.0 * (1.0 / 255.0) * 255.0, 51 * (1.0 / 255.0)};
    double W0[3][2] = {{0.1, -0.2}, {0.3, 0.4}, {-0.5, 0.25}}, B0[2] = {0.05, -0.1};
    double W1[2][2] = {{0.2, -0.3}, {-0.4, 0.1}}, B1[2] = {0.0, 0.3};
    double h[2], o[2], z[2], d[2], e[2];
    for (int j = 0; j < 2; j++) h[j] = sig(x[0] * W0[0][j] + x[1] * W0[1][j] + x[2] * W0[2][j] + B0[j]);
    for (int j = 0; j < 2; j++) z[j] = h[0] * W1[0][j] + h[1] * W1[1][j] + B1[j], o[j] = sig(z[j]);
    for (int j = 0; j < 2; j++) d[j] = o[j] - (j == label); /* bce with a sigmoid: o - y */
    for (int j = 0; j < 2; j++) {
        B1[j] -= lr * d[j];
        for (int i = 0; i < 2; i++) W1[i][j] -= h[i] * (lr * d[j]);
    }
    for (int i = 0; i < 2; i++) e[i] = (W1[i][0] * d[0] + W1[i][1] * d[1]) * h[i] * (1 - h[i]);
    for (int j = 0; j < 2; j++) {
        B0[j] -= lr * e[j];
        for (int i = 0; i < 3; i++) W0[i][j] -= x[i] * (lr * e[j]);
    }

    double mean, accuracy;
    int64_t done;
    int status = sn_train_samples(&net, NULL, SN_BCE, image, &label, NULL, 1, 1, lr, &mean, &accuracy, NULL, &done);
    CHECK(status == 0, "sample step: %s", sn_error());
    CHECK(done == 1, "one sample done, not %lld", (long long)done);
    double worst_hand = 0;
    for (int i = 0; i < 6; i++) worst_hand = fmax(worst_hand, fabs(w0[i] - W0[i / 2][i % 2]));
    for (int i = 0; i < 4; i++) worst_hand = fmax(worst_hand, fabs(w1[i] - W1[i / 2][i % 2]));
    for (int j = 0; j < 2; j++) worst_hand = fmax(worst_hand, fmax(fabs(b0[j] - B0[j]), fabs(b1[j] - B1[j])));
    CHECK(worst_hand <= TOLERANCE, "per-sample SGD differs from the hand computation by %.3g", worst_hand);
    CHECK(w0[0] == (real)0.1 && w0[1] == (real)-0.2, "the row of a zero pixel must not change");
    /* the error below went through the updated weights: with the old ones, W0 would differ */
    const double old_e0 = (0.2 * d[0] + -0.3 * d[1]) * h[0] * (1 - h[0]);
    CHECK(fabs(old_e0 - e[0]) > 1e-3 && fabs(b0[0] - (0.05 - lr * old_e0)) > 1e-4,
          "the hidden error must flow through the updated weights");
    double expected_loss = 0;  /* bce of the logits before the step */
    for (int j = 0; j < 2; j++)
        expected_loss += (z[j] > 0 ? z[j] + log1p(exp(-z[j])) : log1p(exp(z[j]))) - (j == label) * z[j];
    CHECK(fabs(mean - expected_loss) <= TOLERANCE, "loss %.17g, expected %.17g", mean, expected_loss);
    CHECK(accuracy == (z[1] > z[0] ? 1.0 : 0.0), "accuracy of the one sample");
}

/* ------------------------------------------------------------------------------------------ */
/* optimizers: their first step against the formulas, from the gradient SGD finds */

static void test_optimizers(void) {
    const int sizes[] = {10, 6, 4};
    const int64_t n = 7;
    uint8_t images[7 * 10], labels[7];
    random_batch(images, labels, n, 10, 4);
    sn_net net, sgd;
    make_net(&net, 2, sizes, SN_TANH, SN_SOFTMAX, 0.7);
    copy_net(&sgd, &net);
    const double lr = 0.05;
    CHECK(sn_train_samples(&sgd, NULL, SN_CROSS_ENTROPY, images, labels, NULL, 4, 4, lr, NULL, NULL, NULL, NULL) == 0,
          "sgd: %s", sn_error());

    for (int kind = SN_SGD; kind <= SN_ADAM; kind++) {
        for (int decay = 0; decay < 2; decay++) {
            sn_net run;
            copy_net(&run, &net);
            sn_optimizer_state opt = new_state(&net, kind, 0.9, decay ? 0.01 : 0);
            /* one batch: the first 4 samples (the gradient at the start) */
            int status = sn_train_samples(&run, &opt, SN_CROSS_ENTROPY, images, labels, NULL, 4, 4, lr, NULL, NULL,
                                        NULL, NULL);
            CHECK(status == 0, "optimizer %d: %s", kind, sn_error());
            CHECK(opt.steps == 1, "optimizer %d: steps %lld after one batch", kind, (long long)opt.steps);
            /* the gradient of that batch, from a plain SGD step at lr 1 */
            sn_net unit;
            copy_net(&unit, &net);
            sn_train_samples(&unit, NULL, SN_CROSS_ENTROPY, images, labels, NULL, 4, 4, 1.0, NULL, NULL, NULL, NULL);
            double worst = 0;
            for (int l = 0; l < 2; l++)
                for (int which = 0; which < 2; which++) {
                    const int64_t count = which ? sizes[l + 1] : layer_size(&net, l);
                    const real *p0 = which ? net.biases[l] : net.weights[l];
                    const real *p1 = which ? run.biases[l] : run.weights[l];
                    const real *pu = which ? unit.biases[l] : unit.weights[l];
                    for (int64_t i = 0; i < count; i++) {
                        double g = (double)p0[i] - (double)pu[i];
                        if (!which) g += opt.weight_decay * p0[i]; /* L2 on the weights only */
                        double step;
                        if (kind == SN_SGD || kind == SN_MOMENTUM) step = -lr * g;
                        else if (kind == SN_NESTEROV) step = -lr * g * (1 + 0.9);
                        else step = -lr * sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * g) / (sqrt(0.001 * g * g) + 1e-8);
                        worst = fmax(worst, fabs(((double)p1[i] - p0[i]) - step) / (1e-6 + fabs(step)));
                    }
                }
            CHECK(worst <= (sizeof(real) == 8 ? 1e-8 : 1e-2), "optimizer %d, weight decay %d: first step off by %.3g",
                  kind, decay, worst);
            if (kind == SN_MOMENTUM && !decay) {
                int same = 1;
                for (int l = 0; l < 2; l++)
                    for (int64_t i = 0; i < layer_size(&net, l); i++) same &= run.weights[l][i] == sgd.weights[l][i];
                CHECK(same, "momentum's first step from rest is SGD's, to the bit");
            }
            free_state(&opt);
            free_net(&unit);
            free_net(&run);
        }
    }
    free_net(&net);
    free_net(&sgd);
}

/* ------------------------------------------------------------------------------------------ */
/* extremes: outputs and losses stay finite */

static void test_extremes(void) {
    real z[] = {1000, -1000, 0, 750, -750, 1e30, -1e30}, a[7];
    sn_activate(SN_SIGMOID, z, a, 1, 7);
    int ok = 1;
    for (int i = 0; i < 7; i++) ok &= isfinite(a[i]) && a[i] >= 0 && a[i] <= 1;
    CHECK(ok, "sigmoid of extremes in [0, 1]");
    CHECK(a[0] == 1 && a[1] == 0 && a[2] == (real)0.5, "sigmoid(1000) = 1, sigmoid(-1000) = 0, sigmoid(0) = 0.5");
    sn_activate(SN_SOFTMAX, z, a, 1, 7);
    ok = 1;
    real total = 0;
    for (int i = 0; i < 7; i++) ok &= isfinite(a[i]) && a[i] >= 0 && a[i] <= 1, total += a[i];
    CHECK(ok && a[5] == 1 && fabs((double)total - 1) < 1e-6, "softmax of extremes finite, one-hot at the top");
    real same[] = {1e30, 1e30, 1e30};
    sn_activate(SN_SOFTMAX, same, a, 1, 3);
    CHECK(fabs((double)a[0] - 1.0 / 3) < 1e-6 && a[0] == a[2], "softmax of equal huge logits is uniform");
    real logits[] = {1000, -1000, 0}, out[3], value;
    for (uint8_t label = 0; label < 3; label++) {
        for (int loss = SN_BCE; loss <= SN_MSE; loss++) {
            sn_activate(loss == SN_CROSS_ENTROPY ? SN_SOFTMAX : SN_SIGMOID, logits, out, 1, 3);
            sn_loss_per_sample(loss, logits, out, &label, 1, 3, &value);
            CHECK(isfinite(value) && value >= 0, "%s loss of extreme logits, label %d: %g", LOSSES[loss], label,
                  (double)value);
        }
    }
    /* bce by hand: log(1 + e^z) - y z */
    const uint8_t zero = 0, one = 1;
    real bce, ce;
    sn_loss_per_sample(SN_BCE, logits, out, &zero, 1, 3, &bce);
    CHECK(fabs((double)bce - log(2.0)) < 1e-6, "bce of (1000, -1000, 0) with label 0: %.17g", (double)bce);
    sn_loss_per_sample(SN_CROSS_ENTROPY, logits, out, &one, 1, 3, &ce);
    CHECK(fabs((double)ce - 2000) < 1e-9, "cross entropy of (1000, -1000, 0) with label 1: %.17g", (double)ce);

    /* a whole net with enormous weights: predictions and the loss stay finite */
    const int sizes[] = {6, 4, 3};
    for (int output = SN_SIGMOID; output <= SN_SOFTMAX; output += SN_SOFTMAX - SN_SIGMOID) {
        sn_net net;
        make_net(&net, 2, sizes, SN_RELU, output, 1000);
        uint8_t images[4 * 6], labels[4];
        real outputs[4 * 3];
        predict_random_batch(&net, images, labels, 4, outputs);
        ok = 1;
        for (int i = 0; i < 12; i++) ok &= isfinite(outputs[i]);
        CHECK(ok, "outputs of a net with weights of 1000 are finite (%s)", ACTIVATIONS[output]);
        const double loss = batch_loss(&net, output == SN_SOFTMAX ? SN_CROSS_ENTROPY : SN_BCE, images, labels, 4);
        CHECK(isfinite(loss), "loss of a net with weights of 1000 is finite (%s): %g", ACTIVATIONS[output], loss);
        free_net(&net);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* sums (np.sum's order is checked against the reference), the forward pass against sn_predict */

static void test_sums_and_predict(void) {
    const real a[] = {1.0, 2.0};
    real b[300];
    for (int i = 0; i < 300; i++) b[i] = (real)((i + 1) * 0.1);
    CHECK(fabs((double)sn_sum(b, 300) - 4515) < 1e-3, "sum of 0.1 .. 30");
    CHECK(sn_sum(a, 0) == 0 && sn_sum(a, 1) == 1, "empty and single sums");

    const int sizes[] = {9, 7, 5, 4};
    sn_net net;
    make_net(&net, 3, sizes, SN_TANH, SN_SOFTMAX, 0.9);
    uint8_t images[11 * 9], labels[11];
    real outputs[11 * 4];
    predict_random_batch(&net, images, labels, 11, outputs);
    /* by hand, for every sample */
    double worst = 0;
    for (int s = 0; s < 11; s++) {
        double act[9], next[9];
        for (int i = 0; i < 9; i++) act[i] = images[s * 9 + i] * (1.0 / 255.0);
        for (int l = 0; l < 3; l++) {
            const int n_in = sizes[l], n_out = sizes[l + 1];
            double top = -INFINITY, total = 0;
            for (int j = 0; j < n_out; j++) {
                double zj = net.biases[l][j];
                for (int i = 0; i < n_in; i++) zj += act[i] * net.weights[l][i * n_out + j];
                next[j] = l < 2 ? tanh(zj) : zj;
                top = fmax(top, zj);
            }
            if (l == 2) {
                for (int j = 0; j < n_out; j++) total += exp(next[j] - top);
                for (int j = 0; j < n_out; j++) next[j] = exp(next[j] - top) / total;
            }
            memcpy(act, next, sizeof act);
        }
        for (int j = 0; j < 4; j++) worst = fmax(worst, fabs(act[j] - outputs[s * 4 + j]));
    }
    CHECK(worst <= TOLERANCE, "sn_predict differs from the forward pass by hand by %.3g", worst);
    free_net(&net);
}

/* ------------------------------------------------------------------------------------------ */
/* the products, against sn_gemm_naive: every shape around the kernels' edges (a row or a few; column
   counts below, at and past a vector, where the last vector overlaps the one before; transposes),
   written and added to */

static void test_products(void) {
    real a[9 * 70], b[70 * 70], c[9 * 71], expected[9 * 71];
    const real guard = (real)12345;  /* in the column after each row of C (ldc = n + 1): never written */
    for (int i = 0; i < 9 * 70; i++) a[i] = (real)uniform(-1, 1);
    for (int i = 0; i < 70 * 70; i++) b[i] = (real)uniform(-1, 1);
    double worst = 0;
    int shapes = 0;
    for (int accumulate = 0; accumulate < 2; accumulate++)
        for (int trans_a = 0; trans_a < 2; trans_a++)
            for (int trans_b = 0; trans_b < 2; trans_b++)
                for (int m = 1; m <= 9; m += 2)
                    for (int n = 1; n <= 70; n += n < 20 ? 1 : 17)
                        for (int k = 1; k <= 9; k += 4) {
                            const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
                            for (int i = 0; i < m * (n + 1); i++)
                                c[i] = expected[i] = i % (n + 1) == n ? guard : (real)uniform(-1, 1);
                            sn_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, n + 1, accumulate);
                            sn_gemm_naive(trans_a, trans_b, m, n, k, a, lda, b, ldb, expected, n + 1, accumulate);
                            for (int i = 0; i < m; i++) {
                                if (c[i * (n + 1) + n] != guard) worst = INFINITY;
                                for (int j = 0; j < n; j++)
                                    worst = fmax(worst, fabs((double)expected[i * (n + 1) + j] -
                                                             (double)c[i * (n + 1) + j]));
                            }
                            shapes++;
                        }
    CHECK(worst <= 10 * TOLERANCE, "sn_gemm differs from sn_gemm_naive by %.3g (%d shapes; inf: it wrote "
          "past a row)", worst, shapes);
}

/* ------------------------------------------------------------------------------------------ */
/* mini-batches: a short last batch, and stopping after a batch */

static void test_batches(void) {
    const int sizes[] = {8, 6, 3};
    sn_net net, split;
    make_net(&net, 2, sizes, SN_SIGMOID, SN_SIGMOID, 0.5);
    copy_net(&split, &net);
    uint8_t images[7 * 8], labels[7];
    random_batch(images, labels, 7, 8, 3);
    const int64_t order[] = {6, 0, 5, 1, 4, 2, 3};
    double loss_all, accuracy_all, loss_a, loss_b;
    int64_t done;
    CHECK(sn_train_samples(&net, NULL, SN_MSE, images, labels, order, 7, 3, 0.3, &loss_all, &accuracy_all, NULL,
                         &done) == 0 && done == 7,
          "epoch of 7 in batches of 3: %s", sn_error());
    sn_train_samples(&split, NULL, SN_MSE, images, labels, order, 6, 3, 0.3, &loss_a, NULL, NULL, NULL);
    sn_train_samples(&split, NULL, SN_MSE, images, labels, order + 6, 1, 3, 0.3, &loss_b, NULL, NULL, NULL);
    int same = 1;
    for (int l = 0; l < 2; l++)
        for (int64_t i = 0; i < layer_size(&net, l); i++) same &= net.weights[l][i] == split.weights[l][i];
    CHECK(same, "an epoch is its batches one after another; the last may be short");
    CHECK(fabs(loss_all - (6 * loss_a + loss_b) / 7) < 1e-12, "mean loss over every sample seen");

    /* stop after the first batch */
    volatile int stop = 1;
    CHECK(sn_train_samples(&net, NULL, SN_MSE, images, labels, order, 7, 3, 0.3, NULL, NULL, &stop, &done) == 0 &&
              done == 3,
          "stop is polled after each batch: %lld done", (long long)done);
    free_net(&net);
    free_net(&split);
}

/* ------------------------------------------------------------------------------------------ */
/* the reference: what the NumPy engine computes, from tests/make_reference.py (its docstring
   describes the records: `NAME COUNT VALUE...`, `case LABEL BITS` ... `end 0`) */

typedef struct {
    char name[32], label[64]; /* label: of a case */
    int64_t count;
    double *values;
} record;

static record *records;
static int n_records;

/* Every record of the file; a file that cannot be read or parsed stops the tests (make writes it). */
static void read_reference(const char *path) {
    uint8_t *bytes;
    size_t len;
    if (sn_read_file(path, &bytes, &len)) {
        printf("FAIL: %s (`make test` writes it with tests/make_reference.py)\n", sn_error());
        exit(1);
    }
    char *p = (char *)bytes;
    int used = 0, capacity = 0;
    if (sscanf(p, " scratchnet-reference 1%n", &used) != 0 || !used) {
        printf("FAIL: %s is not a scratchnet reference file, version 1\n", path);
        exit(1);
    }
    for (p += used;;) {
        while (*p == ' ' || *p == '\n') p++;
        if (*p == '#') {
            p += strcspn(p, "\n");
            continue;
        }
        if (!*p) break;
        if (n_records == capacity) records = realloc(records, sizeof *records * (size_t)(capacity = 2 * capacity + 64));
        record *r = &records[n_records++];
        memset(r, 0, sizeof *r);
        int ok = sscanf(p, "%31s%n", r->name, &used) == 1;
        p += used;
        if (ok && strcmp(r->name, "case") == 0) {
            ok = sscanf(p, "%63s%n", r->label, &used) == 1;
            p += used;
            r->count = 1;
        } else if (ok) {
            char *end;
            r->count = strtoll(p, &end, 10);
            ok = end != p && r->count >= 0;
            p = end;
        }
        r->values = malloc(sizeof(double) * (size_t)(r->count + 1));
        for (int64_t i = 0; ok && i < r->count; i++) {
            char *end;
            r->values[i] = strtod(p, &end);
            ok = end != p;
            p = end;
        }
        if (!ok) {
            printf("FAIL: %s: record %d ('%s') is malformed\n", path, n_records, r->name);
            exit(1);
        }
    }
    sn_free(bytes);
}

/* The record `name` of the case starting at records[at]; NULL (and a failed check) if absent. */
static const record *field(int at, const char *name) {
    for (int i = at + 1; i < n_records && strcmp(records[i].name, "end") != 0; i++)
        if (strcmp(records[i].name, name) == 0) return &records[i];
    CHECK(0, "case %s: no record '%s'", records[at].label, name);
    return NULL;
}

static real *reals(const record *r) {
    real *a = malloc(sizeof(real) * (size_t)(r ? r->count : 1));
    for (int64_t i = 0; r && i < r->count; i++) a[i] = (real)r->values[i];
    return a;
}

/* |got - expected| at most `tolerance` times the largest |expected|: the tensor's scale. */
static void check_tensor(int at, const char *name, const real *got, int64_t count, double tolerance) {
    const record *r = field(at, name);
    if (!r) return;
    if (r->count != count) {
        CHECK(0, "case %s, %s: %lld numbers, the C engine has %lld", records[at].label, name, (long long)r->count,
              (long long)count);
        return;
    }
    double scale = 0, worst = 0;
    int64_t worst_at = 0;
    for (int64_t i = 0; i < count; i++) scale = fmax(scale, fabs(r->values[i]));
    for (int64_t i = 0; i < count; i++) {
        const double difference = fabs((double)got[i] - r->values[i]);
        if (!(difference <= worst)) worst = difference, worst_at = i;  /* NaN counts as worst */
    }
    CHECK(worst <= tolerance * fmax(scale, 1e-300), "case %s, %s: [%lld] is %.17g, NumPy %.17g (scale %.3g)",
          records[at].label, name, (long long)worst_at, (double)got[worst_at], r->values[worst_at], scale);
}

#ifdef SN_FLOAT32
#define REFERENCE_TOLERANCE 2e-5  /* float32 sums in another order: a few ulps per operation */
#else
#define REFERENCE_TOLERANCE 1e-12
#endif

/* One case: the forward pass and sn_predict, the loss and its gradient (a step of plain SGD at
   lr 1 from the same parameters moves each by minus its gradient), then an epoch in the case's
   order with its batch size, learning rate and optimizer. */
static void check_case(int at) {
    const char *label = records[at].label;
    const record *sizes_r = field(at, "sizes"), *setting = field(at, "setting"), *images_r = field(at, "images"),
                 *labels_r = field(at, "labels"), *order_r = field(at, "order");
    if (!sizes_r || !setting || !images_r || !labels_r || !order_r) return;
    sn_net net;
    memset(&net, 0, sizeof net);
    net.n_layers = (int)sizes_r->count - 1;
    for (int l = 0; l <= net.n_layers; l++) net.sizes[l] = (int)sizes_r->values[l];
    net.hidden = (int)setting->values[0];
    net.output = (int)setting->values[1];
    const int loss = (int)setting->values[2];
    const int64_t n = labels_r->count;
    const int layers = net.n_layers, n_out = net.sizes[layers];
    uint8_t *images = malloc((size_t)images_r->count), *labels = malloc((size_t)n);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < images_r->count; i++) images[i] = (uint8_t)images_r->values[i];
    for (int64_t i = 0; i < n; i++) labels[i] = (uint8_t)labels_r->values[i], order[i] = (int64_t)order_r->values[i];
    char name[32];
    for (int l = 0; l < layers; l++) {
        snprintf(name, sizeof name, "w%d", l);
        net.weights[l] = reals(field(at, name));
        snprintf(name, sizeof name, "b%d", l);
        net.biases[l] = reals(field(at, name));
    }

    /* forward */
    sn_work w;
    if (CHECK(sn_work_init(&w, &net, n, 0) == 0, "case %s: %s", label, sn_error())) {
        sn_load_batch(&w, &net, images, NULL, n);
        sn_forward(&net, &w);
        for (int l = 1; l <= layers; l++) {
            snprintf(name, sizeof name, "act%d", l);
            check_tensor(at, name, w.act[l], n * net.sizes[l], REFERENCE_TOLERANCE);
        }
        check_tensor(at, "logits", w.logits, n * n_out, REFERENCE_TOLERANCE);
        sn_work_free(&w);
    }
    real *outputs = malloc(sizeof(real) * (size_t)(n * n_out));
    CHECK(sn_predict(&net, images, n, outputs) == 0, "case %s: predict: %s", label, sn_error());
    snprintf(name, sizeof name, "act%d", layers);
    check_tensor(at, name, outputs, n * n_out, REFERENCE_TOLERANCE);
    free(outputs);

    /* the loss and its gradient */
    sn_net stepped;
    copy_net(&stepped, &net);
    double mean = NAN;
    CHECK(sn_train_samples(&stepped, NULL, loss, images, labels, NULL, n, (int)n, 1.0, &mean, NULL, NULL, NULL) == 0,
          "case %s: gradient step: %s", label, sn_error());
    const real mean_real = (real)mean;
    check_tensor(at, "loss", &mean_real, 1, REFERENCE_TOLERANCE);
    for (int l = 0; l < layers; l++) {
        const int64_t counts[2] = {layer_size(&net, l), net.sizes[l + 1]};
        for (int which = 0; which < 2; which++) {
            const real *before = which ? net.biases[l] : net.weights[l];
            const real *after = which ? stepped.biases[l] : stepped.weights[l];
            real *gradient = malloc(sizeof(real) * (size_t)counts[which]);
            for (int64_t i = 0; i < counts[which]; i++) gradient[i] = before[i] - after[i];
            snprintf(name, sizeof name, "grad_%c%d", which ? 'b' : 'w', l);
            check_tensor(at, name, gradient, counts[which], sizeof(real) == 8 ? 1e-11 : 1e-4);
            free(gradient);
        }
    }
    free_net(&stepped);

    /* an epoch with the optimizer: every state array allocated, zero, as a new Python Optimizer's */
    copy_net(&stepped, &net);
    sn_optimizer_state opt = new_state(&net, (int)setting->values[3], setting->values[4], setting->values[5]);
    double accuracy = NAN;
    int64_t done = 0;
    CHECK(sn_train_samples(&stepped, &opt, loss, images, labels, order, n, (int)setting->values[6], setting->values[7],
                         &mean, &accuracy, NULL, &done) == 0 && done == n,
          "case %s: epoch: %s", label, sn_error());
    for (int l = 0; l < layers; l++) {
        snprintf(name, sizeof name, "step_w%d", l);
        check_tensor(at, name, stepped.weights[l], layer_size(&net, l), REFERENCE_TOLERANCE);
        snprintf(name, sizeof name, "step_b%d", l);
        check_tensor(at, name, stepped.biases[l], net.sizes[l + 1], REFERENCE_TOLERANCE);
    }
    free_state(&opt);
    const real step_loss = (real)mean;
    check_tensor(at, "step_loss", &step_loss, 1, REFERENCE_TOLERANCE);
    const record *accuracy_r = field(at, "step_accuracy"), *steps_r = field(at, "step_steps");
    CHECK(accuracy_r && accuracy == accuracy_r->values[0], "case %s: accuracy %.17g, NumPy %.17g", label, accuracy,
          accuracy_r ? accuracy_r->values[0] : NAN);
    CHECK(steps_r && opt.steps == (int64_t)steps_r->values[0], "case %s: %lld optimizer steps, NumPy %g", label,
          (long long)opt.steps, steps_r ? steps_r->values[0] : NAN);
    free_net(&stepped);
    free_net(&net);
    free(images), free(labels), free(order);
}

/* The cases of this build's dtype, every learning rate, and the sums of this build's dtype. */
static void test_reference(const char *path) {
    read_reference(path);
    const int bits = (int)(8 * sizeof(real));
    int cases = 0, rates = 0, wrong_rates = 0, sums = 0, wrong_sums = 0;
    for (int i = 0; i < n_records; i++) {
        const record *r = &records[i];
        if (strcmp(r->name, "case") == 0 && (int)r->values[0] == bits) {
            check_case(i);
            cases++;
        } else if (strcmp(r->name, "rate") == 0 && r->count == 8) {
            const double *v = r->values, got = sn_learning_rate((int)v[0], v[1], v[2], (int)v[3], v[4], (int)v[5],
                                                                (int)v[6]);
            rates++;
            if (got != v[7]) {
                wrong_rates++;
                printf("  schedule %d lr %g epoch %d of %d: %a, Python %a\n", (int)v[0], v[1], (int)v[5], (int)v[6],
                       got, v[7]);
            }
        } else if (strcmp(r->name, "sum") == 0 && r->count >= 2 && (int)r->values[0] == bits) {
            real *values = reals(r);
            const real got = sn_sum(values + 2, r->count - 2);
            sums++;
            if (got != (real)r->values[1]) {
                wrong_sums++;
                printf("  sum of %lld numbers: %a, np.sum %a\n", (long long)r->count - 2, (double)got, r->values[1]);
            }
            free(values);
        }
    }
    CHECK(cases > 0 && rates > 0 && sums > 0, "%s has %d float%d cases, %d rates and %d sums", path, cases, bits, rates,
          sums);
    CHECK(wrong_rates == 0, "%d of %d learning rates differ from learning_rate's", wrong_rates, rates);
    CHECK(wrong_sums == 0, "%d of %d sums differ from np.sum's (pairwise, in blocks of 128)", wrong_sums, sums);
    for (int i = 0; i < n_records; i++) free(records[i].values);
    free(records);
    records = NULL, n_records = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* refusals: -1 and a message, never a crash */

static void test_refusals(void) {
    const int sizes[] = {4, 3, 2};
    sn_net net;
    make_net(&net, 2, sizes, SN_SIGMOID, SN_SIGMOID, 0.5);
    uint8_t images[2 * 4] = {1, 2, 3, 4, 0, 0, 0, 9}, labels[2] = {0, 1}, bad_labels[2] = {0, 2};
    double loss;
    CHECK(sn_train_samples(&net, NULL, SN_CROSS_ENTROPY, images, labels, NULL, 2, 1, 0.1, &loss, NULL, NULL, NULL) ==
                  -1 && strstr(sn_error(), "does not fit"),
          "cross_entropy with a sigmoid output is refused: %s", sn_error());
    CHECK(sn_train_samples(&net, NULL, SN_BCE, images, bad_labels, NULL, 2, 1, 0.1, &loss, NULL, NULL, NULL) == -1 &&
              strstr(sn_error(), "label 2"),
          "a label past the outputs is refused: %s", sn_error());
    sn_optimizer_state opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = SN_NESTEROV;
    CHECK(sn_train_samples(&net, &opt, SN_BCE, images, labels, NULL, 2, 2, 0.1, &loss, NULL, NULL, NULL) == -1 &&
              strstr(sn_error(), "state"),
          "nesterov without its state is refused: %s", sn_error());
    opt.kind = 9;
    CHECK(sn_train_samples(&net, &opt, SN_BCE, images, labels, NULL, 2, 2, 0.1, &loss, NULL, NULL, NULL) == -1,
          "an unknown optimizer is refused");
    CHECK(sn_train_samples(&net, NULL, SN_BCE, images, labels, NULL, 2, 0, 0.1, &loss, NULL, NULL, NULL) == -1,
          "batch size 0 is refused");
    CHECK(sn_train_samples(&net, NULL, SN_BCE, images, labels, NULL, 2, 1, NAN, &loss, NULL, NULL, NULL) == -1,
          "a NaN learning rate is refused");
    const int64_t negative[] = {0, -1};
    CHECK(sn_train_samples(&net, NULL, SN_BCE, images, labels, negative, 2, 1, 0.1, &loss, NULL, NULL, NULL) == -1,
          "a negative index in the order is refused");
    int64_t done = 5;
    CHECK(sn_train_samples(&net, NULL, SN_BCE, images, labels, NULL, 0, 1, 0.1, &loss, NULL, NULL, &done) == 0 &&
              done == 0,
          "an empty epoch does nothing");
    real outputs[4];
    CHECK(sn_predict(&net, images, -1, outputs) == -1, "a negative count is refused");
    CHECK(sn_predict(&net, images, 0, outputs) == 0, "no images: nothing to do");
    sn_net broken = net;
    broken.n_layers = SN_MAX_LAYERS + 1;
    CHECK(sn_predict(&broken, images, 1, outputs) == -1, "too many layers are refused");
    broken = net;
    broken.hidden = SN_SOFTMAX;
    CHECK(sn_predict(&broken, images, 1, outputs) == -1 && strstr(sn_error(), "hidden"),
          "a softmax hidden layer is refused: %s", sn_error());
    broken = net;
    broken.sizes[1] = 0;
    CHECK(sn_predict(&broken, images, 1, outputs) == -1, "a layer of 0 neurons is refused");
    broken = net;
    broken.weights[1] = NULL;
    CHECK(sn_predict(&broken, images, 1, outputs) == -1, "missing weights are refused");
    CHECK(sn_predict(NULL, images, 1, outputs) == -1, "no network is refused");
    free_net(&net);
}

int main(int argc, char **argv) {
    char reference[4096] = "reference.txt";  /* beside the program, or the file given as argument */
    const char *slash = strrchr(argv[0], '/');
    if (argc > 1) snprintf(reference, sizeof reference, "%s", argv[1]);
    else if (slash) snprintf(reference, sizeof reference, "%.*s/reference.txt", (int)(slash - argv[0]), argv[0]);
    const int threads = sn_threads(0);
    printf("test_math: the float%d build, %d threads\n", (int)(8 * sizeof(real)), threads);
    test_reference(reference);
    /* the same numbers on one thread; sn_threads caps and reports (OpenMP: any count) */
    CHECK(sn_threads(1) == 1, "sn_threads(1) caps the library at one thread");
    test_reference(reference);
#ifdef _OPENMP
    CHECK(sn_threads(threads + 1) == threads + 1 && sn_threads(threads) == threads, "sn_threads sets any count");
#else
    CHECK(sn_threads(4) == 1, "without OpenMP there is one thread");
#endif
    for (int hidden = SN_SIGMOID; hidden <= SN_RELU; hidden++)
        for (int64_t n = 1; n <= 5; n += 4) {
            test_gradients(hidden, SN_SIGMOID, SN_BCE, n);
            test_gradients(hidden, SN_SIGMOID, SN_MSE, n);
            test_gradients(hidden, SN_SOFTMAX, SN_CROSS_ENTROPY, n);
            test_gradients(hidden, SN_SOFTMAX, SN_MSE, n);
        }
    test_sample_sgd();
    test_optimizers();
    test_extremes();
    test_sums_and_predict();
    test_products();
    test_batches();
    test_refusals();
    return summary();
}
