// Indicator kernels for polygon-gpu's CUDA backend: design.md's indicator set over a chunk of
// series in BarColumns layout (struct of arrays, per-series offsets). Compiled to PTX for
// compute_90 by `cargo xtask kernels` (nvcc when present, else NVRTC) and embedded in the crate.
//
// Parallel across time, not only across series:
// - `rolling`: one thread per bar. log_return, sma_20, bb_upper_20/bb_lower_20 and std_20 are
//   computed from the bar's own 20-wide window, two-pass (mean, then squared deviations), exactly
//   as the f64 reference does. The window's loads hit L1/L2 (neighbouring threads share them), so
//   the kernel is bound by the column traffic, and it has none of the cancellation of running sums.
// - ema_20, rsi_14 (Wilder) and vwap are affine recurrences y[i] = a[i]*y[i-1] + b[i] (vwap's
//   running sums reset at each New York day: a = 0). They run as a three-phase segmented scan:
//   `scan_local` composes each segment's maps (one thread per SEG bars), `scan_carry` scans the
//   segment composites of each series, `scan_apply` replays each segment from its carry and writes
//   the outputs. Reassociating an affine scan changes only rounding (|a| <= 1), so results stay
//   within 1e-9 relative of the sequential reference.

#define W 20
#define RSI 14
#define SEG 32
#define NSEQ 5 // ema, avg gain, avg loss, price*volume, volume

typedef long long i64;
typedef unsigned int u32;

// ---- New York calendar (the rules of polygon-model's time.rs) --------------------------------

__device__ __forceinline__ i64 floor_div(i64 a, i64 b) {
    i64 q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
__device__ i64 days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const i64 era = floor_div(y, 400);
    const int yoe = (int)(y - era * 400);
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

__device__ int year_of_days(i64 z) {
    z += 719468;
    const i64 era = floor_div(z, 146097);
    const i64 doe = z - era * 146097;
    const i64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const i64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const i64 mp = (5 * doy + 2) / 153;
    const int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return (int)(yoe + era * 400) + (m <= 2);
}

// 0 = Sunday.
__device__ __forceinline__ int weekday(i64 days) { return (int)(((days + 4) % 7 + 7) % 7); }

__device__ i64 nth_sunday(int y, int m, int n) {
    const i64 first = days_from_civil(y, m, 1);
    return first + (7 - weekday(first)) % 7 + 7 * (n - 1);
}

__device__ i64 last_sunday(int y, int m) {
    const i64 last = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
    return last - weekday(last);
}

#define DAY_MS 86400000LL
#define NO_DAY (-2147483647 - 1)

// The New York calendar day (days since 1970-01-01) of a Unix-ms instant; NO_DAY outside 1900-2199.
__device__ int ny_day(i64 ms) {
    const int y = year_of_days(floor_div(ms, DAY_MS));
    if (y < 1900 || y > 2199) return NO_DAY;
    i64 start, end;
    if (y >= 2007) {
        start = nth_sunday(y, 3, 2);
        end = nth_sunday(y, 11, 1);
    } else {
        start = nth_sunday(y, 4, 1);
        end = last_sunday(y, 10);
    }
    const bool dst = ms >= start * DAY_MS + 7 * 3600000LL && ms < end * DAY_MS + 6 * 3600000LL;
    const i64 local = ms - (dst ? 240LL : 300LL) * 60000LL;
    return (int)floor_div(local, DAY_MS);
}

// ---- layout helpers --------------------------------------------------------------------------

// The series holding row `i`: the last k with offsets[k] <= i (offsets has nseries + 1 entries).
__device__ __forceinline__ int series_of(const u32* __restrict__ offsets, int nseries, u32 i) {
    int lo = 0, hi = nseries - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (offsets[mid] <= i) lo = mid; else hi = mid - 1;
    }
    return lo;
}

struct Inputs {
    const i64* __restrict__ t;
    const double* __restrict__ h;
    const double* __restrict__ l;
    const double* __restrict__ c;
    const double* __restrict__ v;
    const double* __restrict__ vw;
};

// ln(a / b) within an ulp or two even for a tiny return: near each other, a - b is exact
// (Sterbenz), so log1p((a - b) / b) keeps the digits that log(a / b) loses to the rounded ratio
// (a one-cent move of a $600,000 share is a return of 1.7e-8, and the rounded ratio's 1.1e-16 is
// 7e-9 of it). The CPU backend gets within a few ulps of the same value another way.
__device__ __forceinline__ double log_ratio(double a, double b) {
    const double d = a - b;
    return fabs(d) <= 0.5 * fabs(b) ? log1p(d / b) : log(a / b);
}

// ---- rolling windows: one thread per bar ------------------------------------------------------

extern "C" __global__ void rolling(const double* __restrict__ c, const u32* __restrict__ offsets, int nseries,
                                   u32 n, double* __restrict__ log_return, double* __restrict__ sma,
                                   double* __restrict__ std20, double* __restrict__ bb_upper,
                                   double* __restrict__ bb_lower) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const u32 s0 = offsets[series_of(offsets, nseries, i)];
    const u32 j = i - s0;
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    log_return[i] = j == 0 ? nan : log_ratio(c[i], c[i - 1]);
    if (j + 1 >= W) {
        double sum = 0.0;
        for (int k = 0; k < W; k++) sum += c[i + 1 - W + k];
        const double m = sum / W;
        double ss = 0.0;
        for (int k = 0; k < W; k++) {
            const double d = c[i + 1 - W + k] - m;
            ss += d * d;
        }
        const double sd = sqrt(ss / W);
        sma[i] = m;
        bb_upper[i] = m + 2.0 * sd;
        bb_lower[i] = m - 2.0 * sd;
    } else {
        sma[i] = nan;
        bb_upper[i] = nan;
        bb_lower[i] = nan;
    }
    if (j >= W) {
        double r[W];
        double sum = 0.0;
        for (int k = 0; k < W; k++) {
            const u32 m = i + 1 - W + k;
            r[k] = log_ratio(c[m], c[m - 1]);
            sum += r[k];
        }
        const double m = sum / W;
        double ss = 0.0;
        for (int k = 0; k < W; k++) ss += (r[k] - m) * (r[k] - m);
        std20[i] = sqrt(ss / W * W / (W - 1));
    } else {
        std20[i] = nan;
    }
}

// ---- affine scans: ema_20, rsi_14, vwap ------------------------------------------------------

// The maps of row i (position j in its series, which starts at s0): a[q], b[q] for each sequence.
__device__ void maps(const Inputs& in, u32 s0, u32 i, double a[NSEQ], double b[NSEQ]) {
    const u32 j = i - s0;
    const double alpha = 2.0 / (W + 1);
    const double c = in.c[i];
    // EMA: starts at the first close.
    a[0] = j == 0 ? 0.0 : 1.0 - alpha;
    b[0] = j == 0 ? c : alpha * c;
    // Wilder: identity before bar RSI, the seed (simple means of the first RSI changes) at it,
    // then avg = (13 * avg + x) / 14.
    if (j < RSI) {
        a[1] = a[2] = 1.0;
        b[1] = b[2] = 0.0;
    } else if (j == RSI) {
        double g = 0.0, s = 0.0;
        for (u32 k = 1; k <= RSI; k++) {
            const double d = in.c[s0 + k] - in.c[s0 + k - 1];
            g += fmax(d, 0.0);
            s += fmax(-d, 0.0);
        }
        a[1] = a[2] = 0.0;
        b[1] = g / RSI;
        b[2] = s / RSI;
    } else {
        const double d = c - in.c[i - 1];
        a[1] = a[2] = (RSI - 1.0) / RSI;
        b[1] = fmax(d, 0.0) / RSI;
        b[2] = fmax(-d, 0.0) / RSI;
    }
    // VWAP: running sums that restart at each New York day's first bar.
    const bool restart = j == 0 || ny_day(in.t[i]) != ny_day(in.t[i - 1]);
    const double vw = in.vw[i];
    const double price = isnan(vw) ? (in.h[i] + in.l[i] + c) / 3.0 : vw;
    a[3] = a[4] = restart ? 0.0 : 1.0;
    b[3] = price * in.v[i];
    b[4] = in.v[i];
}

// The segment g: its series, first row and end row.
__device__ __forceinline__ void segment(const u32* __restrict__ offsets, const u32* __restrict__ seg_offsets,
                                        int nseries, u32 g, u32* s0, u32* first, u32* end) {
    const int k = series_of(seg_offsets, nseries, g);
    *s0 = offsets[k];
    *first = offsets[k] + (g - seg_offsets[k]) * SEG;
    *end = min(*first + SEG, offsets[k + 1]);
}

// Phase 1: each segment's composite map (A, B) per sequence.
#define INPUT_PARAMS                                                                                   \
    const i64 *__restrict__ t, const double *__restrict__ h, const double *__restrict__ l,               \
        const double *__restrict__ c, const double *__restrict__ v, const double *__restrict__ vw
#define INPUTS {t, h, l, c, v, vw}

extern "C" __global__ void scan_local(INPUT_PARAMS, const u32* __restrict__ offsets, const u32* __restrict__ seg_offsets,
                                      int nseries, u32 nseg, double* __restrict__ seg_a, double* __restrict__ seg_b) {
    const u32 g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= nseg) return;
    const Inputs in = INPUTS;
    u32 s0, first, end;
    segment(offsets, seg_offsets, nseries, g, &s0, &first, &end);
    double A[NSEQ], B[NSEQ], a[NSEQ], b[NSEQ];
    for (int q = 0; q < NSEQ; q++) { A[q] = 1.0; B[q] = 0.0; }
    for (u32 i = first; i < end; i++) {
        maps(in, s0, i, a, b);
        for (int q = 0; q < NSEQ; q++) {
            A[q] = a[q] * A[q];
            B[q] = a[q] * B[q] + b[q];
        }
    }
    for (int q = 0; q < NSEQ; q++) {
        seg_a[q * nseg + g] = A[q];
        seg_b[q * nseg + g] = B[q];
    }
}

// Phase 2: per series (one thread each), the value entering each of its segments.
extern "C" __global__ void scan_carry(const u32* __restrict__ seg_offsets, int nseries, u32 nseg,
                                      const double* __restrict__ seg_a, const double* __restrict__ seg_b,
                                      double* __restrict__ carry) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= nseries) return;
    for (int q = 0; q < NSEQ; q++) {
        double y = 0.0;
        for (u32 g = seg_offsets[k]; g < seg_offsets[k + 1]; g++) {
            carry[q * nseg + g] = y;
            y = seg_a[q * nseg + g] * y + seg_b[q * nseg + g];
        }
    }
}

// Phase 3: each segment replays its rows from its carry, in the reference's arithmetic.
extern "C" __global__ void scan_apply(INPUT_PARAMS, const u32* __restrict__ offsets, const u32* __restrict__ seg_offsets,
                                      int nseries, u32 nseg, const double* __restrict__ carry,
                                      double* __restrict__ ema, double* __restrict__ rsi, double* __restrict__ vwap) {
    const u32 g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= nseg) return;
    const Inputs in = INPUTS;
    u32 s0, first, end;
    segment(offsets, seg_offsets, nseries, g, &s0, &first, &end);
    double y[NSEQ], a[NSEQ], b[NSEQ];
    for (int q = 0; q < NSEQ; q++) y[q] = carry[q * nseg + g];
    const double alpha = 2.0 / (W + 1);
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    for (u32 i = first; i < end; i++) {
        const u32 j = i - s0;
        maps(in, s0, i, a, b);
        y[0] = j == 0 ? in.c[i] : alpha * in.c[i] + (1.0 - alpha) * y[0];
        if (j > RSI) {
            const double d = in.c[i] - in.c[i - 1];
            y[1] = (y[1] * (RSI - 1.0) + fmax(d, 0.0)) / RSI;
            y[2] = (y[2] * (RSI - 1.0) + fmax(-d, 0.0)) / RSI;
        } else {
            y[1] = a[1] * y[1] + b[1];
            y[2] = a[2] * y[2] + b[2];
        }
        y[3] = a[3] * y[3] + b[3];
        y[4] = a[4] * y[4] + b[4];
        ema[i] = y[0];
        rsi[i] = j < RSI ? nan : (y[2] == 0.0 ? 100.0 : 100.0 * y[1] / (y[1] + y[2]));
        vwap[i] = y[4] > 0.0 ? y[3] / y[4] : nan;
    }
}
