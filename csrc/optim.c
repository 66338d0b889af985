/* Optimizers and learning-rate schedules, as src/scratchnet/optim.py: learning_rate, and
 * Optimizer.update (SGD, momentum, Nesterov, Adam, with L2 weight decay on the weights).
 *
 * Every step is NumPy's operation for operation, the scalars rounded to `real` first (as NumPy does
 * with a Python float against a float32 array).
 */
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
    case SN_INVERSE:  /* initial / (1 + decay * epoch) */
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

int sn_check_optimizer(const sn_optimizer_state *opt, const sn_net *net) {
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

/* One step's numbers, as `real` where NumPy meets them as Python floats against the arrays. */
typedef struct {
    int kind;
    real lr, momentum;
    real beta1, one_minus_beta1, beta2, one_minus_beta2, epsilon;
    real rate;  /* Adam's step size: lr * sqrt(1 - beta2^t) / (1 - beta1^t), in double as Python */
} coefficients;

/* param -= step(grad + decay * param) (Optimizer._apply), with the state s1 (velocity or m) and s2
   (v): the weight decay (grad_w + weight_decay * W) is added as each element is read. */
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

void sn_update(sn_net *net, sn_optimizer_state *opt, const sn_grads *grads, double lr) {
    coefficients k;
    memset(&k, 0, sizeof k);
    k.kind = opt ? opt->kind : SN_SGD;
    k.lr = (real)lr;
    k.momentum = opt ? (real)opt->momentum : 0;
    k.beta1 = (real)ADAM_BETA1;
    k.one_minus_beta1 = (real)(1 - ADAM_BETA1);
    k.beta2 = (real)ADAM_BETA2;
    k.one_minus_beta2 = (real)(1 - ADAM_BETA2);
    k.epsilon = (real)ADAM_EPSILON;
    if (opt) opt->steps++;  /* once a batch, before its updates: Adam's bias correction counts batches */
    if (k.kind == SN_ADAM) {
        const double t = (double)opt->steps;
        k.rate = (real)(lr * sqrt(1 - pow(ADAM_BETA2, t)) / (1 - pow(ADAM_BETA1, t)));
    }
    const real decay = opt ? (real)opt->weight_decay : 0;
    for (int l = 0; l < net->n_layers; l++) {
        real *s1, *s2;
        state_of(opt, l, 0, &s1, &s2);
        apply_parallel(&k, net->weights[l], s1, s2, grads->weights[l], (int64_t)net->sizes[l] * net->sizes[l + 1],
                       decay);
        state_of(opt, l, 1, &s1, &s2);
        apply(&k, net->biases[l], s1, s2, grads->biases[l], net->sizes[l + 1], 0);
    }
}
