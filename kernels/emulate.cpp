// Runs the kernels of indicators.cu on the CPU, one thread at a time, so that machines without a
// GPU still test the kernels' arithmetic and indexing (polygon-gpu's tests/kernels_emulated.rs
// builds this with g++ and compares the output with the CPU backend).
//
// Usage: emulate DIR N NSERIES   (DIR holds t h l c v vw offsets as raw little-endian arrays;
// writes out0..out7, the indicators in polygon-gpu's column order)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
struct Dim3 { unsigned x; };
static Dim3 blockIdx, blockDim, threadIdx;
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
using std::fmax;
using std::isnan;
using std::min;

#include "indicators.cu"

template <class F> static void grid(unsigned items, F f) {
    blockDim.x = 256;
    for (unsigned b = 0; b * 256u < items; b++) {
        blockIdx.x = b;
        for (unsigned t = 0; t < 256u; t++) { threadIdx.x = t; f(); }
    }
}

template <class T> static std::vector<T> load(const std::string& dir, const char* name, size_t n) {
    std::vector<T> v(n);
    FILE* f = std::fopen((dir + "/" + name).c_str(), "rb");
    if (!f || std::fread(v.data(), sizeof(T), n, f) != n) { std::fprintf(stderr, "cannot read %s\n", name); std::exit(2); }
    std::fclose(f);
    return v;
}

int main(int argc, char** argv) {
    if (argc != 4) { std::fprintf(stderr, "usage: emulate DIR N NSERIES\n"); return 2; }
    const std::string dir = argv[1];
    const u32 n = (u32)std::strtoul(argv[2], nullptr, 10);
    const int ns = std::atoi(argv[3]);
    auto t = load<i64>(dir, "t", n);
    auto h = load<double>(dir, "h", n), l = load<double>(dir, "l", n), c = load<double>(dir, "c", n);
    auto v = load<double>(dir, "v", n), vw = load<double>(dir, "vw", n);
    auto offsets = load<u32>(dir, "offsets", ns + 1);
    std::vector<u32> seg(ns + 1, 0);
    for (int k = 0; k < ns; k++) seg[k + 1] = seg[k] + (offsets[k + 1] - offsets[k] + SEG - 1) / SEG;
    const u32 nseg = seg[ns];
    std::vector<double> out[8];
    for (auto& o : out) o.assign(n, -1.0);
    std::vector<double> sa(nseg * NSEQ), sb(nseg * NSEQ), carry(nseg * NSEQ);
    grid(n, [&] { rolling(c.data(), offsets.data(), ns, n, out[0].data(), out[1].data(), out[3].data(), out[4].data(), out[5].data()); });
    grid(nseg, [&] { scan_local(t.data(), h.data(), l.data(), c.data(), v.data(), vw.data(), offsets.data(), seg.data(), ns, nseg, sa.data(), sb.data()); });
    grid(ns, [&] { scan_carry(seg.data(), ns, nseg, sa.data(), sb.data(), carry.data()); });
    grid(nseg, [&] { scan_apply(t.data(), h.data(), l.data(), c.data(), v.data(), vw.data(), offsets.data(), seg.data(), ns, nseg, carry.data(), out[2].data(), out[6].data(), out[7].data()); });
    for (int k = 0; k < 8; k++) {
        FILE* f = std::fopen((dir + "/out" + std::to_string(k)).c_str(), "wb");
        if (!f || std::fwrite(out[k].data(), 8, n, f) != n) return 1;
        std::fclose(f);
    }
    return 0;
}
