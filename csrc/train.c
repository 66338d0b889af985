/* Training, as src/scratchnet/train.py: an epoch of per-sample SGD in the seed's order or of
 * mini-batches, the optimizers (SGD, momentum, Nesterov, Adam, with L2 weight decay) and the
 * learning-rate schedules.
 *
 * Every elementwise step is NumPy's operation for operation (the scalars rounded to `real` first,
 * as NumPy does with a Python float against a float32 array), so the only differences from the
 * NumPy engine are the rounding of matrix products and of exp/log.
 */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a * b + c within a statement; NumPy rounds both */
#endif


#ifdef SN_FLOAT32
#define SQRT sqrtf
#else
#define SQRT sqrt
#endif

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPSILON 1e-8

double sn_learning_rate(int schedule, double lr, double lr_decay, int lr_step, double lr_gamma, int epoch,
                        int total_epochs) {
    switch (schedule) {
    case SN_CONSTANT:
        return lr;
    case SN_INVERSE:  /* the seed's ToDo: initial / (1 + decay * epoch) */
        return lr / (1 + lr_decay * epoch);
    case SN_STEP: {
        if (lr_step < 1) {
            sn_fail("lr_step must be at least 1, got %d", lr_step);
            return NAN;
        }
        int steps = epoch / lr_step;  /* Python's // rounds down */
        if (epoch % lr_step != 0 && epoch < 0) steps--;
        return lr * pow(lr_gamma, steps);
    }
    case SN_COSINE: {
        const double pi = 3.141592653589793;  /* math.pi */
        return lr * 0.5 * (1 + cos(pi * epoch / (total_epochs > 1 ? total_epochs : 1)));
    }
    default:
        sn_fail("unknown schedule %d: choose constant (0), inverse (1), step (2) or cosine (3)", schedule);
        return NAN;
    }
}

/* --------------------------------------------------------------------------------------------- */
/* optimizers: train.Optimizer._apply, one array at a time */

typedef struct {
    int kind;
    double lr_double;  /* as given: Adam's rate is computed in double, as Python does */
    real lr, momentum, weight_decay;
    real beta1, one_minus_beta1, beta2, one_minus_beta2, rate, epsilon;
} coefficients;

static coefficients coefficients_for(const sn_optimizer_state *opt, double lr) {
    coefficients k;
    memset(&k, 0, sizeof k);
    k.kind = opt ? opt->kind : SN_SGD;
    k.lr_double = lr;
    k.lr = (real)lr;
    k.momentum = opt ? (real)opt->momentum : 0;
    k.weight_decay = opt ? (real)opt->weight_decay : 0;
    k.beta1 = (real)ADAM_BETA1;
    k.one_minus_beta1 = (real)(1 - ADAM_BETA1);
    k.beta2 = (real)ADAM_BETA2;
    k.one_minus_beta2 = (real)(1 - ADAM_BETA2);
    k.epsilon = (real)ADAM_EPSILON;
    return k;
}

/* Adam's step size for step t (1-based): lr * sqrt(1 - b2^t) / (1 - b1^t), in double as Python */
static void set_adam_rate(coefficients *k, int64_t steps) {
    const double lr = k->lr_double;
    k->rate = (real)(lr * sqrt(1 - pow(ADAM_BETA2, (double)steps)) / (1 - pow(ADAM_BETA1, (double)steps)));
}

/* param -= update(grad + decay * param), with the state s1 (velocity or m) and s2 (v): weight decay
   (Optimizer.update's grad_w + weight_decay * W) is added as each element is read. */
static void apply(const coefficients *k, real *restrict param, real *restrict s1, real *restrict s2,
                  const real *restrict grad, int64_t count, real decay) {
#define GRADIENT(i) (decay != 0 ? grad[i] + decay * param[i] : grad[i])
    const real lr = k->lr, mu = k->momentum;
    switch (k->kind) {
    case SN_SGD:
        for (int64_t i = 0; i < count; i++) param[i] = param[i] - lr * GRADIENT(i);
        break;
    case SN_MOMENTUM:
        for (int64_t i = 0; i < count; i++) {
            const real g = GRADIENT(i);
            real v = s1[i] * mu;
            v = v - lr * g;
            s1[i] = v;
            param[i] = param[i] + v;
        }
        break;
    case SN_NESTEROV:  /* step as if from the point momentum is about to carry us to */
        for (int64_t i = 0; i < count; i++) {
            const real g = GRADIENT(i);
            real v = s1[i] * mu;
            v = v - lr * g;
            s1[i] = v;
            param[i] = param[i] + (mu * v - lr * g);
        }
        break;
    default: {
        const real b1 = k->beta1, c1 = k->one_minus_beta1, b2 = k->beta2, c2 = k->one_minus_beta2;
        const real rate = k->rate, eps = k->epsilon;
        for (int64_t i = 0; i < count; i++) {
            const real g = GRADIENT(i);
            real m = s1[i] * b1;
            m = m + c1 * g;
            real v = s2[i] * b2;
            v = v + c2 * g * g;
            s1[i] = m;
            s2[i] = v;
            param[i] = param[i] - rate * m / (SQRT(v) + eps);
        }
    }
    }
#undef GRADIENT
}

/* The same over a large array, in slices spread over the threads. */
static void apply_parallel(const coefficients *k, real *param, real *s1, real *s2, const real *grad,
                           int64_t count, real decay) {
    const int64_t slice = 16384, slices = (count + slice - 1) / slice;
    if (count <= PARALLEL_WORK / 4) {
        apply(k, param, s1, s2, grad, count, decay);
        return;
    }
    PARALLEL_FOR(1)
    for (int64_t p = 0; p < slices; p++) {
        const int64_t begin = p * slice, n = count - begin < slice ? count - begin : slice;
        apply(k, param + begin, s1 ? s1 + begin : NULL, s2 ? s2 + begin : NULL, grad + begin, n, decay);
    }
}

/* the optimizer state of one parameter array: weights (which 0) or biases (1) of `layer` */
static void state_of(const sn_optimizer_state *opt, int layer, int which, real **s1, real **s2) {
    *s1 = *s2 = NULL;
    if (!opt) return;
    if (opt->kind == SN_MOMENTUM || opt->kind == SN_NESTEROV) {
        *s1 = which ? opt->velocity_b[layer] : opt->velocity_w[layer];
    } else if (opt->kind == SN_ADAM) {
        *s1 = which ? opt->m_b[layer] : opt->m_w[layer];
        *s2 = which ? opt->v_b[layer] : opt->v_w[layer];
    }
}

static int check_optimizer(const sn_optimizer_state *opt, const sn_net *net) {
    if (!opt) return 0;
    if (opt->kind < SN_SGD || opt->kind > SN_ADAM)
        return sn_fail("unknown optimizer %d: choose sgd (0), momentum (1), nesterov (2) or adam (3)", opt->kind);
    if (!isfinite(opt->momentum) || opt->momentum < 0)
        return sn_fail("momentum must be a finite number >= 0, got %g", opt->momentum);
    if (!isfinite(opt->weight_decay) || opt->weight_decay < 0)
        return sn_fail("weight decay must be a finite number >= 0, got %g", opt->weight_decay);
    if (opt->steps < 0) return sn_fail("optimizer steps cannot be negative (%lld)", (long long)opt->steps);
    for (int l = 0; l < net->n_layers; l++)
        for (int which = 0; which < 2; which++) {
            real *s1, *s2;
            state_of(opt, l, which, &s1, &s2);
            if ((opt->kind != SN_SGD && !s1) || (opt->kind == SN_ADAM && !s2))
                return sn_fail("the %s optimizer needs its state for the %s of layer %d",
                               opt->kind == SN_ADAM ? "adam" : opt->kind == SN_NESTEROV ? "nesterov" : "momentum",
                               which ? "biases" : "weights", l + 1);
        }
    return 0;
}

/* --------------------------------------------------------------------------------------------- */
/* per-sample training (batch size 1) */

/* The seed's loop (train.sgd_sample_step): plain SGD without weight decay, each layer updated as
   soon as its error is known, the error then flowing back through the updated weights. */
static void sgd_sample_step(sn_net *net, sn_work *w, int loss, uint8_t label, real lr) {
    const int layers = net->n_layers;
    real *delta = w->delta, *below = w->below;
    real *restrict change = w->grad_b;
    sn_output_delta(loss, net->output, w->act[layers], &label, 1, net->sizes[layers], delta);
    for (int l = layers - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *restrict bias = net->biases[l];
        for (int j = 0; j < n_out; j++) change[j] = lr * delta[j];
        for (int j = 0; j < n_out; j++) bias[j] = bias[j] - change[j];
        if (l == 0) {  /* only the rows of the non-zero pixels change */
            sn_sparse_rows_update(w->nz_start[1], w->nz_index, w->nz_value, net->weights[0], n_out, change);
        } else {  /* W -= a change^T, then delta below = (W delta) f'(a) with the new W */
            const real *restrict a = w->act[l];
            const real *restrict d = delta;
            real *restrict out = below;
            real *restrict weights = net->weights[l];
            for (int i = 0; i < n_in; i++) {
                real *restrict row = weights + (int64_t)i * n_out;
                const real ai = a[i];
                for (int j = 0; j < n_out; j++) row[j] = row[j] - ai * change[j];
                real dot = 0;
                for (int j = 0; j < n_out; j++) dot = SN_FMA(row[j], d[j], dot);
                out[i] = dot;
            }
            sn_times_derivative(net->hidden, below, a, n_in);
            real *t = delta;
            delta = below;
            below = t;
        }
    }
}

/* Network.backward(update_first=True) with Optimizer.update: any optimizer, weight decay. */
static void sample_step(sn_net *net, sn_work *w, const coefficients *k, const sn_optimizer_state *opt, int loss,
                        uint8_t label) {
    const int layers = net->n_layers;
    real *delta = w->delta, *below = w->below, *grad = w->grad_w;
    sn_output_delta(loss, net->output, w->act[layers], &label, 1, net->sizes[layers], delta);
    const real wd = k->weight_decay;
    for (int l = layers - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *s1, *s2;
        state_of(opt, l, 0, &s1, &s2);
        real *weights = net->weights[l];
        /* the gradient a^T delta, whole (Optimizer.update spreads layer 0's rows into zeros) */
        if (l == 0) {
            memset(grad, 0, (size_t)n_in * n_out * sizeof *grad);
            for (int64_t e = 0; e < w->nz_start[1]; e++) {
                const real x = w->nz_value[e];
                real *restrict g = grad + (int64_t)w->nz_index[e] * n_out;
                for (int j = 0; j < n_out; j++) g[j] = x * delta[j];
            }
        } else {
            const real *a = w->act[l];
            for (int i = 0; i < n_in; i++)
                for (int j = 0; j < n_out; j++) grad[(int64_t)i * n_out + j] = a[i] * delta[j];
        }
        apply_parallel(k, weights, s1, s2, grad, (int64_t)n_in * n_out, wd);
        state_of(opt, l, 1, &s1, &s2);
        apply(k, net->biases[l], s1, s2, delta, n_out, 0);
        if (l > 0) {  /* through the updated weights */
            for (int i = 0; i < n_in; i++) {
                const real *restrict row = weights + (int64_t)i * n_out;
                real dot = 0;
                for (int j = 0; j < n_out; j++) dot = SN_FMA(row[j], delta[j], dot);
                below[i] = dot;
            }
            sn_times_derivative(net->hidden, below, w->act[l], n_in);
            real *t = delta;
            delta = below;
            below = t;
        }
    }
}

/* --------------------------------------------------------------------------------------------- */
/* mini-batches */

static void batch_step(sn_net *net, sn_work *w, coefficients *k, sn_optimizer_state *opt, int loss,
                       const uint8_t *labels) {
    const int layers = net->n_layers;
    const int64_t count = w->count;
    real *delta = w->delta, *below = w->below;
    const int n_last = net->sizes[layers];
    sn_output_delta(loss, net->output, w->act[layers], labels, count, n_last, delta);
    if (count > 1) {  /* the gradient of the batch-mean loss (network.backward divides) */
        const real divisor = (real)count;
        for (int64_t i = 0; i < count * n_last; i++) delta[i] = delta[i] / divisor;
    }
    if (opt) {
        opt->steps++;  /* Optimizer.step: once a batch, before its updates */
        if (opt->kind == SN_ADAM) set_adam_rate(k, opt->steps);
    }
    const real wd = k->weight_decay;
    for (int l = layers - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *restrict grad_w = w->grad_w, *restrict grad_b = w->grad_b;
        real *weights = net->weights[l];
        if (l == 0)
            sn_sparse_input_gradient(w, n_in, delta, n_out, grad_w);
        else  /* a^T delta */
            sn_gemm(1, 0, n_in, n_out, count, w->act[l], n_in, delta, n_out, grad_w, n_out, 0);
        for (int j = 0; j < n_out; j++) grad_b[j] = delta[j];  /* column sums, rows in order */
        for (int64_t s = 1; s < count; s++)
            for (int j = 0; j < n_out; j++) grad_b[j] = grad_b[j] + delta[s * n_out + j];
        if (l > 0) {  /* the error below, through the weights of the forward pass: delta W^T f'(a) */
            sn_gemm(0, 1, count, n_in, n_out, delta, n_out, weights, n_out, below, n_in, 0);
            sn_times_derivative(net->hidden, below, w->act[l], count * n_in);
        }
        real *s1, *s2;
        state_of(opt, l, 0, &s1, &s2);
        apply_parallel(k, weights, s1, s2, grad_w, (int64_t)n_in * n_out, wd);
        state_of(opt, l, 1, &s1, &s2);
        apply(k, net->biases[l], s1, s2, grad_b, n_out, 0);
        real *t = delta;
        delta = below;
        below = t;
    }
}

/* --------------------------------------------------------------------------------------------- */

int sn_train_epoch(sn_net *net, sn_optimizer_state *opt, int loss, const uint8_t *images, const uint8_t *labels,
                   const int64_t *order, int64_t n, int batch_size, double lr, double *mean_loss, double *accuracy,
                   volatile int *stop, int64_t *samples_done) {
    if (mean_loss) *mean_loss = 0;
    if (accuracy) *accuracy = 0;
    if (samples_done) *samples_done = 0;
    if (sn_check_net(net, loss) || check_optimizer(opt, net)) return -1;
    if (n < 0) return sn_fail("%lld samples: the count cannot be negative", (long long)n);
    if (batch_size < 1) return sn_fail("batch size must be at least 1, got %d", batch_size);
    if (!isfinite(lr) || lr < 0) return sn_fail("learning rate must be a finite number >= 0, got %g", lr);
    if (n == 0) return 0;
    if (!images || !labels) return sn_fail("no images or labels given");
    const int n_out = net->sizes[net->n_layers];
    for (int64_t t = 0; t < n; t++) {
        const int64_t s = order ? order[t] : t;
        if (s < 0) return sn_fail("order[%lld] is %lld: indices cannot be negative", (long long)t, (long long)s);
        if (labels[s] >= n_out)
            return sn_fail("label %d (image %lld) needs more than the network's %d outputs", labels[s], (long long)s,
                           n_out);
    }

    const int64_t capacity = batch_size < n ? batch_size : n;
    sn_work w;
    if (sn_work_init(&w, net, capacity, 1)) return -1;
    uint8_t *batch_labels = malloc((size_t)capacity);
    if (!batch_labels) {
        sn_work_free(&w);
        return sn_fail("out of memory");
    }
    coefficients k = coefficients_for(opt, lr);
    /* train_epoch's `fast`: the seed's loop for plain SGD without weight decay (as Python decides) */
    const int fast = batch_size == 1 && k.kind == SN_SGD && (!opt || opt->weight_decay == 0);
    const int layers = net->n_layers;
    double loss_sum = 0;
    int64_t correct = 0, done = 0;

    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t count = n - start < batch_size ? n - start : batch_size;
        const uint8_t *base = order ? images : images + start * (int64_t)net->sizes[0];
        sn_load_batch(&w, net, base, order ? order + start : NULL, count, batch_size > 1);
        for (int64_t s = 0; s < count; s++) batch_labels[s] = labels[order ? order[start + s] : start + s];
        sn_forward(net, &w);
        for (int64_t s = 0; s < count; s++) {  /* the loss from the logits, as train_epoch */
            const real *z = w.logits + s * n_out;
            loss_sum += (double)sn_sample_loss(loss, z, w.act[layers] + s * n_out, batch_labels[s], n_out);
            correct += sn_argmax(z, n_out) == batch_labels[s];
        }
        if (fast) {
            sgd_sample_step(net, &w, loss, batch_labels[0], k.lr);
        } else if (batch_size == 1) {
            if (opt) {
                opt->steps++;
                if (k.kind == SN_ADAM) set_adam_rate(&k, opt->steps);
            }
            sample_step(net, &w, &k, opt, loss, batch_labels[0]);
        } else {
            batch_step(net, &w, &k, opt, loss, batch_labels);
        }
        done += count;
        if (stop && *stop) break;
    }
    sn_work_free(&w);
    free(batch_labels);
    if (mean_loss) *mean_loss = loss_sum / (double)done;
    if (accuracy) *accuracy = (double)correct / (double)done;
    if (samples_done) *samples_done = done;
    return 0;
}
