"""
The PyTorch side of bench/vs-pytorch (issue 21): lowbit's four reference models (src/models/*.ts)
and its quantizers as fake-quant ops with straight-through gradients, written in plain PyTorch.
A reference for comparison, never a lowbit dependency (Debian's python3-torch 1.13).

One row per process (so its peak RSS is its own): trains `--model` with `--variant` for `--steps`
Adam steps after 2 warm-up steps on one random 28x28x1 batch, prints one JSON line.

  /usr/bin/python3 bench/vs-pytorch/torch_side.py --model lenet5 --variant float --batch 64 --steps 10 [--threads 2]
  /usr/bin/python3 bench/vs-pytorch/torch_side.py --probe      # sgemm peak, GFLOP/s (see probe())

Variants and where they quantize (as src/layers/quantize-model.ts places them):
  float           no quantizer
  dorefa-w1       DoReFa W1/A32: sign(w)·mean|w| (sign(0) = +1), STE; first and last layer float
  dorefa-w2a2     DoReFa W2/A2: 2·quantize_k(tanh(w)/(2·max|tanh w|) + ½) − 1; inputs round(clip(x,0,1)·3)/3
                  with the clipped STE; first and last layer float
  lsq-w2a2        LSQ (lowbit's "ste" method): y = round(clip(x/s, q_min, q_max))·s, learned s, Esser et al.'s
                  gradients with g = 1/sqrt(N·q_max); every layer, input pixels float
  srq-w2a2        SRQ (reconstruction, docs/methods/srq.md): forward the mode of the categorical over the local
                  grid (= round-and-clip), backward the multi-class STE in closed form per element (the math of
                  src/backend/relaxed-kernels.ts), learned log α, log σ; every layer, input pixels float
  bitat-w1a1      one step of BiTAT's last stage (docs/methods/bitat.md §1.3-1.5, src/methods/bitat/run.ts):
                  every layer but the first and last binarized, per-channel sign(w)·α (α = mean|w|, clipped STE,
                  no gradient to α) with RSign inputs (sign(x + b), learned b per channel, ApproxSign gradient);
                  the kernels of the earlier stages frozen; the last stage's layer(s) under the metric
                  M = V diag(s) Vᵀ, V = V₀·expm(A − Aᵀ) (Taylor order 10 with scaling and squaring),
                  s = softplus(ρ)/mean, b = sign(M·w), α = ⟨b, M w⟩/⟨b, M b⟩; V₀ = I, s = 1 at the start
                  (lowbit starts from a PCA: speed only, the same ops and shapes)
Linear layers: Debian's python3-torch is built with BLAS_INFO=generic, so torch.mm / nn.Linear call whatever
libblas.so.3 the system's alternatives select (here netlib's reference BLAS, ~5 GFLOP/s), while its
convolutions run in its bundled oneDNN (MKL-DNN 2.6.3). With --linear onednn (the default) every Linear
runs as the same product through oneDNN (a 1x1 convolution on [B, in, 1, 1]), as lowbit's Dense runs
through oneDNN's matmul, and so do the BiTAT transform's matrix products; --linear blas keeps torch's own
BLAS path for both.
Quantizer initial scales are fixed constants here (lowbit calibrates them): this bench measures speed only.
"""
import argparse, json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- GEMM route
LINEAR = ['onednn']


def linear(x, w, b):
    """x·wᵀ + b: through oneDNN as a 1x1 convolution (--linear onednn), or nn.Linear's BLAS path (--linear blas)."""
    if LINEAR[0] == 'blas':
        return F.linear(x, w, b)
    return F.conv2d(x.reshape(*x.shape, 1, 1), w.reshape(*w.shape, 1, 1), b).reshape(x.shape[0], w.shape[0])


def mm(a, b):
    """a·b for 2-D a, b, on the same route as linear() (the BiTAT transform's products)."""
    return a @ b if LINEAR[0] == 'blas' else linear(a, b.t(), None)


# ---------------------------------------------------------------- quantizers
class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, dy):
        return dy


class BinaryMeanScaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return torch.where(w >= 0, 1.0, -1.0) * w.abs().mean()

    @staticmethod
    def backward(ctx, dy):
        return dy


def dorefa_weight(w, bits):
    if bits == 1:
        return BinaryMeanScaled.apply(w)
    n = 2 ** bits - 1
    t = torch.tanh(w)
    u = t / (2 * t.abs().max()) + 0.5
    return 2 * (RoundSTE.apply(u * n) / n) - 1


class DorefaActivation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        return torch.round(x.clamp(0, 1) * n) / n

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * ((x >= 0) & (x <= 1)).float(), None


class LSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s, qmin, qmax):
        v = x / s
        ctx.save_for_backward(v)
        ctx.q = (qmin, qmax, 1 / math.sqrt(x.numel() * max(qmax, 1)))
        return torch.round(v.clamp(qmin, qmax)) * s

    @staticmethod
    def backward(ctx, dy):
        (v,) = ctx.saved_tensors
        qmin, qmax, g = ctx.q
        inside = ((v >= qmin) & (v <= qmax)).float()
        ds = inside * (torch.round(v) - v) + (v < qmin).float() * qmin + (v > qmax).float() * qmax
        return dy * inside, (dy * ds).sum().reshape(1) * g, None, None


class SRQ(torch.autograd.Function):
    """Mode of the local-grid categorical forward; closed-form multi-class STE backward (eps-fuzzed π)."""

    @staticmethod
    def slots(x, alpha, sigma, lo, hi):
        K = hi - lo + 1
        h = math.ceil(3 * float(sigma) / float(alpha))
        if 2 * h + 1 < K:
            base = torch.round(x / alpha).clamp(lo, hi).unsqueeze(-1)
            G = base + torch.arange(-h, h + 1, dtype=x.dtype)
        else:
            G = torch.arange(lo, hi + 1, dtype=x.dtype).expand(*x.shape, K)
        xe = x.unsqueeze(-1)
        a = (G * alpha - alpha / 2 - xe) / sigma
        b = (G * alpha + alpha / 2 - xe) / sigma
        logits = F.logsigmoid(b) + F.logsigmoid(-a)
        logits = logits.masked_fill((G < lo) | (G > hi), -1e30)
        return G, a, b, logits, K

    @staticmethod
    def forward(ctx, x, alpha, sigma, lo, hi):
        with torch.no_grad():
            G, _, _, logits, _ = SRQ.slots(x, alpha, sigma, lo, hi)
            picked = G.gather(-1, logits.argmax(-1, keepdim=True)).squeeze(-1)
        ctx.save_for_backward(x, alpha, sigma, picked)
        ctx.grid = (lo, hi)
        return picked * alpha

    @staticmethod
    def backward(ctx, dy):
        x, alpha, sigma, picked = ctx.saved_tensors
        lo, hi = ctx.grid
        eps = 1e-6
        G, a, b, logits, K = SRQ.slots(x, alpha, sigma, lo, hi)
        p = torch.softmax(logits, -1)
        dp = dy.unsqueeze(-1) * G * alpha / (1 + K * eps)
        D = p * (dp - (p * dp).sum(-1, keepdim=True))
        sa, sb = torch.sigmoid(a), torch.sigmoid(-b)
        dx = (D * (sa - sb)).sum(-1) / sigma
        dalpha = (D * (sb * (G + 0.5) - sa * (G - 0.5))).sum() / sigma + (dy * picked).sum()
        dsigma = (D * (sa * a - sb * b)).sum() / sigma
        return dx, dalpha.reshape(1), dsigma.reshape(1), None, None


class ScaledSignSTE(torch.autograd.Function):
    """α·sign(z) (sign(0) = +1), clipped STE on z, no gradient to α (quantizers/binary.ts scaledSignSTE)."""

    @staticmethod
    def forward(ctx, z, alpha):
        ctx.save_for_backward(z)
        return torch.where(z >= 0, 1.0, -1.0) * alpha

    @staticmethod
    def backward(ctx, dy):
        (z,) = ctx.saved_tensors
        return dy * (z.abs() <= 1).float(), None


class ApproxSign(torch.autograd.Function):
    """sign(x) (sign(0) = +1), gradient max(0, 2 − 2|x|) (Bi-Real; quantizers/binary.ts approxSign)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (2 - 2 * x.abs()).clamp(min=0)


def expm(k, order=10):
    """expm by scaling and squaring with a Taylor series, as src/methods/bitat/transform.ts expm."""
    norm = float(k.detach().norm())
    j = math.ceil(math.log2(norm / 0.5)) if norm > 0.5 else 0
    scaled = k / 2 ** j if j > 0 else k
    eye = torch.eye(k.shape[0])
    term, total = eye, eye
    for i in range(1, order + 1):
        term = mm(term, scaled) / i
        total = total + term
    for _ in range(j):
        total = mm(total, total)
    return total


class BitatTransform(nn.Module):
    """M = V diag(s) Vᵀ, V = V₀·expm(A − Aᵀ), s = softplus(ρ)/mean (identity start: V₀ = I, s = 1)."""

    def __init__(self, d):
        super().__init__()
        self.register_buffer('v0', torch.eye(d))
        self.a = nn.Parameter(torch.zeros(d, d))
        self.rho = nn.Parameter(torch.full((d,), math.log(math.expm1(1.0))))

    def metric(self):
        v = mm(self.v0, expm(self.a - self.a.t()))
        s = F.softplus(self.rho)
        s = s / s.mean()
        return mm(v * s.reshape(1, -1), v.t())


def binary_channel(w, metric=None):
    """Per-output-channel binary weights of w (torch layout [O, ...]) viewed as [d_in, O] (binary.ts binaryChannel)."""
    w2 = w.reshape(w.shape[0], -1).t()
    if metric is None:
        q = ScaledSignSTE.apply(w2, w2.abs().mean(0, keepdim=True).detach())
    else:
        z = mm(metric, w2)
        b = torch.where(z >= 0, 1.0, -1.0).detach()
        alpha = ((b * z).sum(0, keepdim=True) / (b * mm(metric, b)).sum(0, keepdim=True)).detach()
        q = ScaledSignSTE.apply(z, alpha)
    return q.t().reshape(w.shape)


class Quantizer(nn.Module):
    def __init__(self, kind, bits, role, channels=0):
        super().__init__()
        self.kind, self.bits, self.role = kind, bits, role
        self.transform = None
        if kind == 'bitat':
            if role == 'input':
                self.threshold = nn.Parameter(torch.zeros(channels))
            return
        signed = role == 'weight'
        self.qmin, self.qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
        init = 0.05 if signed else 0.5
        if kind == 'lsq':
            self.step = nn.Parameter(torch.tensor([init]))
        if kind == 'srq':
            self.log_alpha = nn.Parameter(torch.tensor([math.log(init)]))
            self.log_sigma = nn.Parameter(torch.tensor([math.log(init / 3)]))

    def forward(self, x):
        if self.kind == 'bitat':
            if self.role == 'weight':
                return binary_channel(x, self.transform.metric() if self.transform is not None else None)
            return ApproxSign.apply(x + self.threshold.reshape(1, -1, *([1] * (x.dim() - 2))))
        if self.kind == 'dorefa':
            return dorefa_weight(x, self.bits) if self.role == 'weight' else DorefaActivation.apply(x, 2 ** self.bits - 1)
        if self.kind == 'lsq':
            return LSQ.apply(x, self.step, self.qmin, self.qmax)
        return SRQ.apply(x, self.log_alpha.exp(), self.log_sigma.exp(), self.qmin, self.qmax)


class Linear(nn.Linear):
    def forward(self, x):
        return linear(x, self.weight, self.bias)


class QLayer(nn.Module):
    """A conv or linear layer with a kernel quantizer and an input quantizer (QuantConv2D / QuantDense)."""

    def __init__(self, layer, kq, iq):
        super().__init__()
        self.layer, self.kq, self.iq = layer, kq, iq

    def forward(self, x):
        if self.iq is not None:
            x = self.iq(x)
        w = self.kq(self.layer.weight) if self.kq is not None else self.layer.weight
        if isinstance(self.layer, nn.Linear):
            return linear(x, w, self.layer.bias)
        c = self.layer
        return F.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation, c.groups)


VARIANTS = {
    'float': None,
    'dorefa-w1': ('dorefa', 1, None, True),
    'dorefa-w2a2': ('dorefa', 2, 2, True),
    'lsq-w2a2': ('lsq', 2, 2, False),
    'srq-w2a2': ('srq', 2, 2, False),
    'bitat-w1a1': ('bitat', 1, 1, True),
}


def quantize(model, variant):
    """Wraps every Conv2d/Linear like lowbit's quantizeModel: ends float for DoReFa, input pixels float otherwise."""
    v = VARIANTS[variant]
    if v is None:
        return model
    kind, wbits, abits, keep_ends = v
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for i, name in enumerate(names):
        if keep_ends and i in (0, len(names) - 1):
            continue
        parent = model.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else model
        leaf = name.rsplit('.', 1)[-1]
        layer = getattr(parent, leaf)
        channels = layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features
        iq = Quantizer(kind, abits, 'input', channels) if abits is not None and i > 0 else None
        setattr(parent, leaf, QLayer(layer, Quantizer(kind, wbits, 'weight'), iq))
    if kind == 'bitat':
        bitat_last_stage(model)
    return model


def bitat_last_stage(model):
    """BiTAT's last stage (src/methods/bitat/run.ts): the binarized layers grouped into stages, bottom to top,
    layers that read the same tensor sharing one; the earlier stages' latent kernels frozen, the last stage's
    layer(s) under a trainable transform. Layers read the same tensor in these models only in a widening
    mobilenet block (its two point-wise halves) and a resnet block with a projection (conv1 and proj)."""
    stages = []
    for m in model.modules():
        if isinstance(m, MobileBlock):
            stages += [[m.dw], list(m.pw)]
        elif isinstance(m, Block):
            stages += [[m.conv1] + ([m.proj[0]] if m.proj is not None else []), [m.conv2]]
    if not stages:  # sequential models: one layer per stage, in order
        stages = [[m] for m in model.modules() if isinstance(m, QLayer)]
    stages = [[q for q in s if isinstance(q, QLayer)] for s in stages]
    stages = [s for s in stages if s]
    for s in stages[:-1]:
        for q in s:
            q.layer.weight.requires_grad_(False)
    for q in stages[-1]:
        w = q.layer.weight
        q.kq.transform = BitatTransform(w[0].numel())


# ---------------------------------------------------------------- models (src/models/*.ts, NCHW)
def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, bias=False), bn(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, bias=False), bn(50), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), Linear(800, 500, bias=False), nn.BatchNorm1d(500, eps=1e-5, momentum=0.1), nn.ReLU(), Linear(500, 10))


def vgg_small():
    layers, c = [], 1
    for f in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(c, f, 3, padding=1, bias=False), bn(f), nn.ReLU()]
            c = f
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Conv2d(128, 256, 3, bias=False), bn(256), nn.ReLU(), nn.Flatten(), Linear(256, 10)]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), bn(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), bn(cout)
        self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout)) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), bn(16), nn.ReLU())
        blocks, c = [], 16
        for s, base in enumerate((16, 32, 64)):
            for blk in range(3):
                blocks.append(Block(c, base, 2 if s > 0 and blk == 0 else 1))
                c = base
        self.blocks = nn.Sequential(*blocks)
        self.fc = Linear(64, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class MobileBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.dw, self.dw_bn, self.dw_act = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), bn(cin), nn.PReLU(cin, 0.25)
        self.split = cout != cin
        n = 2 if self.split else 1
        self.pw = nn.ModuleList(nn.Conv2d(cin, cin if self.split else cout, 1, bias=False) for _ in range(n))
        self.pw_bn = nn.ModuleList(bn(cin if self.split else cout) for _ in range(n))
        self.pw_act = nn.ModuleList(nn.PReLU(cin if self.split else cout, 0.25) for _ in range(n))

    def forward(self, x):
        shortcut = F.avg_pool2d(x, 2) if self.stride == 2 else x
        x = self.dw_act(self.dw_bn(self.dw(x)) + shortcut)
        outs = [act(b(pw(x)) + x) for pw, b, act in zip(self.pw, self.pw_bn, self.pw_act)]
        return torch.cat(outs, 1) if self.split else outs[0]


class MobileNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), bn(16), nn.PReLU(16, 0.25))
        self.blocks = nn.Sequential(MobileBlock(16, 32, 1), MobileBlock(32, 64, 2), MobileBlock(64, 64, 1))
        self.fc = Linear(64, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


MODELS = {'lenet5': lenet5, 'vgg-small': vgg_small, 'resnet20': ResNet20, 'mobilenet-tiny': MobileNetTiny}


def macs_per_image(model):
    """Multiply-accumulates of one forward pass (conv and linear layers), counted with hooks."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 1, 28, 28))
    for h in hs:
        h.remove()
    return total[0]


def train_row(model_name, variant, batch, steps, threads, warmup=2):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MODELS[model_name]()
    macs = macs_per_image(model)
    model = quantize(model, variant)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t
    ips = batch * steps / seconds
    return {'side': 'pytorch', 'model': model_name, 'variant': variant, 'batch': batch, 'steps': steps, 'threads': threads,
            'imagesPerSecond': ips, 'msPerStep': 1000 * seconds / steps, 'macsPerImage': macs,
            'gflops': 6 * macs * ips / 1e9, 'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


PROBE_N, PROBE_WARMUP, PROBE_REPS = 1024, 3, 20  # as bench/vs-pytorch/lowbit-side.ts


def best_gflops(f):
    best = 0.0
    for i in range(PROBE_WARMUP + PROBE_REPS):
        t = time.perf_counter()
        f()
        s = time.perf_counter() - t
        if i >= PROBE_WARMUP:
            best = max(best, 2 * PROBE_N ** 3 / s / 1e9)
    return best


def probe(threads):
    """The sgemm peak probe, the same as lowbit-side.ts probe(): C = A·B, M = N = K = 1024 float32, 3 warm-up
    calls, best of 20, on each route PyTorch has: torch.mm (its BLAS: Debian's generic libblas.so.3), oneDNN's
    inner product (mkldnn_linear on oneDNN tensors) and oneDNN's convolution as a GEMM (1x1 conv, 32x32 map)."""
    torch.set_num_threads(threads)
    n = PROBE_N
    a, b = torch.rand(n, n), torch.rand(n, n)
    am, bm = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
    x, w = a.t().contiguous().reshape(1, n, 32, 32), b.t().contiguous().reshape(n, n, 1, 1)
    routes = {
        'blas-mm': best_gflops(lambda: torch.mm(a, b)),
        'onednn-linear': best_gflops(lambda: torch._C._nn.mkldnn_linear(am, bm)),
        'onednn-conv1x1': best_gflops(lambda: F.conv2d(x, w)),
    }
    return {'side': 'pytorch', 'probe': f'sgemm M=N=K={n} float32, {PROBE_WARMUP} warm-up, best of {PROBE_REPS}', 'routes': routes,
            'gflops': max(routes.values()), 'threads': torch.get_num_threads(), 'dtype': str(a.dtype), **torch_info()}


def torch_info():
    """The build facts that decide PyTorch's CPU speed (torch.__config__.show() basics)."""
    cfg = torch.__config__.show()
    info = {'torchThreads': torch.get_num_threads(), 'interopThreads': torch.get_num_interop_threads(),
            'ompNumThreads': os.environ.get('OMP_NUM_THREADS'), 'mklAvailable': torch.backends.mkl.is_available(),
            'mkldnnAvailable': torch.backends.mkldnn.is_available()}
    for key, pat in (('blasInfo', 'BLAS_INFO='), ('cpuCapability', 'CPU capability usage: '), ('mkldnn', 'MKL-DNN ')):
        i = cfg.find(pat)
        info[key] = cfg[i + len(pat):].split('\n')[0].split(',')[0].strip() if i >= 0 else None
    try:
        info['libblas'] = os.path.realpath('/usr/lib/x86_64-linux-gnu/libblas.so.3')
    except OSError:
        info['libblas'] = None
    return info


def check_linear(model_name, variant):
    """Loss and gradients of one step on both Linear routes (same seed, batch 8): the routes compute the same math."""
    out = {}
    for route in ('blas', 'onednn'):
        LINEAR[0] = route
        torch.manual_seed(0)
        model = quantize(MODELS[model_name](), variant)
        model.train()
        g = torch.Generator().manual_seed(1)
        x, y = torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        out[route] = (loss.item(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    rel = max(float((out['blas'][1][n] - out['onednn'][1][n]).abs().max() / out['blas'][1][n].abs().max().clamp(min=1e-30))
              for n in out['blas'][1])
    return {'model': model_name, 'variant': variant, 'lossBlas': out['blas'][0], 'lossOnednn': out['onednn'][0], 'maxRelGradDiff': rel}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='lenet5', choices=list(MODELS))
    p.add_argument('--variant', default='float', choices=list(VARIANTS))
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--probe', action='store_true')
    p.add_argument('--linear', default='onednn', choices=['onednn', 'blas'])
    p.add_argument('--check-linear', action='store_true', help='compare the oneDNN and BLAS Linear routes on one step of --model')
    a = p.parse_args()
    if a.check_linear:
        sys.stdout.write(json.dumps(check_linear(a.model, a.variant)) + '\n')
        return
    LINEAR[0] = a.linear
    row = probe(a.threads) if a.probe else train_row(a.model, a.variant, a.batch, a.steps, a.threads)
    row['torch'] = torch.__version__
    row['linear'] = a.linear
    if not a.probe:
        row['torchThreads'] = torch.get_num_threads()
    sys.stdout.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
