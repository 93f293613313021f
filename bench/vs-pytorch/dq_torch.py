"""
The PyTorch side of the DQ row of bench/vs-pytorch (issue 21): lowbit's DQ auto-encoder training step
(src/methods/dq/model.ts, src/layers/depthwise-quantizer.ts, src/quantizers/vector.ts, src/methods/dq/run.ts
and mixture.ts; method in docs/methods/dq.md) ported op for op to plain PyTorch on the CPU. A reference for
comparison, never a lowbit dependency (Debian's python3-torch 1.13).

One row per process (its peak RSS is its own): trains for `--steps` Adam steps after 2 warm-up steps on
Fashion-MNIST training batches (random order, the IDX bytes read as byte / 255 per batch, as lowbit's side
reads them) and prints one JSON line.

  /usr/bin/python3 bench/vs-pytorch/dq_torch.py --batch 64 --steps 10 [--threads 2] [--linear onednn|blas]
      [--deconv onednn|torch] [--groups 4 --codes 32 --levels 2 --embed 32 --width 32 --mixtures 5] [--profile]

What is ported (the DQ method's defaults, src/methods/dq/method.ts: M = 4 groups, K = 32 codes, 2 levels,
M·D = 32 quantized channels, width C = 32, 5 logistic mixtures, EMA codebooks, N(0, 1) init; Adam lr 2e-3):
  model     28x28 zero-padded to 32x32; encoder_b 4x4/2 conv (C/2), ReLU, 4x4/2 conv (C), ReLU, 3x3 conv (C),
            ResBlock, ReLU (32 -> 8); encoder_t 4x4/2 conv (C/2), ReLU, 3x3 conv (C), ResBlock, ReLU (8 -> 4);
            z_t = 1x1 conv (M·D) -> DQ_t; dec_t = 3x3 conv, ResBlock, ReLU, 4x4/2 transposed conv; z_b = 1x1 conv
            of concat(h_b, dec_t(q_t)) -> DQ_b; up_b(q_b), up_t(nearest x2 (q_t)) stride-2 decoders, concat,
            decoder to 32x32, ReLU, 3x3 conv to 3·nMix; ResBlock = x + 1x1 conv(ReLU(3x3 conv C/2 (ReLU x))).
            Convolutions with bias, 'same' padding as TF.js computes it (4x4/2: 1 each side), He-normal kernels
            (truncated normal, std sqrt(2 / fan_in), TF.js's fan_in, zero biases).
  quantizer per group m (contiguous channels m·D … m·D+D−1 of the channels-last feature): nearest code by
            ‖z‖² − 2 z·e + ‖e‖² (a matrix product, argmin), codeword lookup, straight-through q = z + sg(e − z),
            per-example vq = β Σ_m mean((z_m − sg(e_m))²), β = 0.25; in training, after the lookup and off the
            tape: per-group code counts, perplexity and codes used (lowbit's lastStats), the EMA step
            N <- γN + (1−γ)·onehotᵀ1, S <- γS + (1−γ)·onehotᵀ z (one-hot matrix product, as lowbit),
            Laplace smoothing N' = (N + ε)/(ΣN + Kε)·ΣN, e = S / N', γ = 0.99, ε = 1e-5, and dead-code restarts
            (N' < 1) from random rows of the batch (jittered by N(0, 0.01/√D) when the batch has fewer than K rows).
  loss      discretized logistic mixture NLL over the 784 cropped pixels in nats/dim (mixture.ts), + Σ levels mean vq.
  optimizer Adam(lr 2e-3, β 0.9/0.999, ε 1e-7: TF.js's defaults).
Matrix products (the code search and the EMA sums) run through oneDNN as 1x1 convolutions by default
(--linear onednn), because Debian's torch is built with BLAS_INFO=generic and torch.mm calls the system's
reference BLAS (bench/vs-pytorch/torch_side.py says more); --linear blas uses torch.mm.
Transposed convolutions run through oneDNN too, as four 2x2 convolutions (--deconv onednn; Up says why);
--deconv torch uses nn.ConvTranspose2d.
--profile adds the step's split by operator (torch.autograd.profiler, self CPU time) and the inclusive time of the
quantizers' nearest-code search (dq.search) and statistics + EMA + restarts (dq.update), all levels.
"""
import argparse, gzip, json, math, os, resource, subprocess, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LINEAR = ['onednn']
DECONV = ['onednn']
FASHION_DIR = os.environ.get('LOWBIT_DATA_DIR', '/usr/share/datasets/fashion-mnist')


def mm(a, b_t):
    """a · b_tᵀ for 2-D a [n, k], b_t [m, k]: oneDNN as a 1x1 convolution (--linear onednn) or torch.mm (--linear blas)."""
    if LINEAR[0] == 'blas':
        return a @ b_t.t()
    return F.conv2d(a.reshape(*a.shape, 1, 1), b_t.reshape(*b_t.shape, 1, 1)).reshape(a.shape[0], b_t.shape[0])


# ---------------------------------------------------------------- initialisation as TF.js does it
def he_normal_(w, fan_in):
    """tf.initializers.heNormal: truncated normal (±2σ), σ = sqrt(2 / fan_in)."""
    std = math.sqrt(2 / max(1, fan_in))
    with torch.no_grad():
        nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def conv(cin, cout, k, stride=1):
    """TF.js conv2d 'same': 3x3/1 and 1x1 symmetric; 4x4/2 on an even map pads 1 on each side."""
    c = nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if stride == 1 else (k - stride) // 2)
    he_normal_(c.weight, cin * k * k)
    nn.init.zeros_(c.bias)
    return c


# Kernel taps of a 4x4/2 transposed convolution (padding 1) per output phase: output row 2p takes input rows
# p − 1 and p through kernel rows 3 and 1; row 2p + 1 takes rows p and p + 1 through kernel rows 2 and 0.
PHASE_TAPS = (((1, 0), [3, 1]), ((0, 1), [2, 0]))


def conv_transpose_phases(x, w, b):
    """F.conv_transpose2d(x, w, b, stride 2, padding 1) for a 4x4 kernel w [Cin, Cout, 4, 4] as four 2x2 convolutions
    (one per output phase, exact MACs) through oneDNN, interleaved; the same function and gradients."""
    ys = []
    for (top, bottom), ka in PHASE_TAPS:
        row = []
        for (left, right), kc in PHASE_TAPS:
            k = w[:, :, ka][:, :, :, kc].transpose(0, 1)
            row.append(F.conv2d(F.pad(x, (left, right, top, bottom)), k, b))
        ys.append(torch.stack(row, 0))
    y = torch.stack(ys, 0)  # [phase y, phase x, N, C, H, W]
    n, c, h, w_ = y.shape[2:]
    return y.permute(2, 3, 4, 0, 5, 1).reshape(n, c, 2 * h, 2 * w_)


class Up(nn.ConvTranspose2d):
    """TF.js conv2dTranspose 4x4/2 'same' (doubles the map). With --deconv onednn (the default) it runs as
    conv_transpose_phases: this torch build has no oneDNN transposed convolution, and its slow_conv_transpose2d
    does its products in the system's reference BLAS; --deconv torch keeps that path."""
    def forward(self, x):
        if DECONV[0] == 'torch':
            return super().forward(x)
        return conv_transpose_phases(x, self.weight, self.bias)


def up(cin, cout):
    """TF.js's fan_in of its [kh, kw, out, in] transposed kernel is out·16."""
    c = Up(cin, cout, 4, 2, padding=1)
    he_normal_(c.weight, cout * 16)
    nn.init.zeros_(c.bias)
    return c


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.c2 = conv(c, max(1, c // 2), 3), conv(max(1, c // 2), c, 1)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(x))))


class Decoder(nn.Module):
    """Stride-2 decoder: 3x3 conv -> ResBlock -> ReLU -> 4x4/2 transposed conv."""
    def __init__(self, cin, c):
        super().__init__()
        self.inp, self.res, self.up = conv(cin, c, 3), ResBlock(c), up(c, c)

    def forward(self, x):
        return self.up(F.relu(self.res(self.inp(x))))


# ---------------------------------------------------------------- the quantizer
class DepthwiseQuantizer(nn.Module):
    """src/layers/depthwise-quantizer.ts with EMA codebooks and 'normal' init."""
    def __init__(self, groups, codes, dim, beta=0.25, decay=0.99, epsilon=1e-5, dead_threshold=1.0):
        super().__init__()
        self.m, self.k, self.d = groups, codes, dim
        self.beta, self.decay, self.eps, self.dead_threshold = beta, decay, epsilon, dead_threshold
        book = torch.randn(groups, codes, dim)
        self.register_buffer('codebook', book)
        self.register_buffer('ema_count', torch.ones(groups, codes))
        self.register_buffer('ema_sum', book.clone())
        self.last_stats = None

    def nearest(self, z):
        """Code indices [n, M] of z [n, M, D]: per group, argmin of ‖z‖² − 2 z·e + ‖e‖² (vector.ts nearestCodeIndices)."""
        cols = []
        for g in range(self.m):
            zg, e = z[:, g], self.codebook[g]
            dist = (zg * zg).sum(1, keepdim=True) - 2 * mm(zg, e) + (e * e).sum(1).reshape(1, -1)
            cols.append(dist.argmin(1))
        return torch.stack(cols, 1)

    def forward(self, x):
        """x: [N, M·D, H, W] (NCHW). Returns (straight-through q, per-example vq [N, 1])."""
        n_img, c, h, w = x.shape
        z = x.permute(0, 2, 3, 1).reshape(-1, self.m, self.d)  # channels-last positions, as TF.js holds them
        n = z.shape[0]
        with torch.no_grad():
            with torch.autograd.profiler.record_function('dq.search'):
                idx = self.nearest(z)
            q = self.codebook[torch.arange(self.m).reshape(1, -1), idx]  # [n, M, D] lookup
        q = q.reshape(n_img, h, w, c).permute(0, 3, 1, 2)
        st = x + (q - x).detach() if self.training else q
        per_example = (x - q).pow(2).permute(0, 2, 3, 1).reshape(n_img, h * w, self.m, self.d).mean((1, 3)).sum(1, keepdim=True)
        vq = per_example * self.beta
        if self.training:
            with torch.no_grad(), torch.autograd.profiler.record_function('dq.update'):
                self.update(z, idx, n)
        return st, vq

    def update(self, z, idx, n):
        """Usage statistics, EMA step and dead-code restart for one training batch (depthwise-quantizer.ts update())."""
        k, d = self.k, self.d
        stats = {'perplexity': [], 'used': [], 'dead': []}
        books, counts, sums = [], [], []
        for g in range(self.m):
            gi = idx[:, g]
            hist = torch.bincount(gi, minlength=k).double()
            p = hist / hist.sum()
            stats['perplexity'].append(math.exp(float(-(p[p > 0] * p[p > 0].log()).sum())))
            stats['used'].append(int((hist > 0).sum()))
            onehot = F.one_hot(gi, k).float()  # [n, K]
            count = self.ema_count[g] * self.decay + onehot.sum(0) * (1 - self.decay)
            s = self.ema_sum[g] * self.decay + mm(onehot.t().contiguous(), z[:, g].t().contiguous()) * (1 - self.decay)
            total = count.sum()
            smoothed = (count + self.eps) / (total + k * self.eps) * total
            book = s / smoothed.reshape(-1, 1)
            dead = (smoothed < self.dead_threshold).nonzero().flatten()
            stats['dead'].append(int(dead.numel()))
            if dead.numel() > 0:
                rows = z[:, g][torch.randint(n, (dead.numel(),))]
                if n < k:
                    rows = rows + torch.randn_like(rows) * (0.01 / math.sqrt(d))
                book = book.clone()
                book[dead] = rows
            books.append(book)
            counts.append(count)
            sums.append(s)
        self.codebook.copy_(torch.stack(books))
        self.ema_count.copy_(torch.stack(counts))
        self.ema_sum.copy_(torch.stack(sums))
        self.last_stats = stats


# ---------------------------------------------------------------- the auto-encoder
class DqAutoencoder(nn.Module):
    """src/methods/dq/model.ts buildDqAutoencoder (levels 1 or 2)."""
    def __init__(self, groups=4, codes=32, levels=2, embed=32, width=32, mixtures=5):
        super().__init__()
        C, E = width, embed
        self.levels = levels
        self.enc_b = nn.ModuleList([conv(1, C // 2, 4, 2), conv(C // 2, C, 4, 2), conv(C, C, 3), ResBlock(C)])
        if levels == 2:
            self.enc_t = nn.ModuleList([conv(C, C // 2, 4, 2), conv(C // 2, C, 3), ResBlock(C)])
            self.proj_t = conv(C, E, 1)
            self.dq_t = DepthwiseQuantizer(groups, codes, E // groups)
            self.dec_t = Decoder(E, C)
            self.up_t = Decoder(E, C)
        self.proj_b = conv(2 * C if levels == 2 else C, E, 1)
        self.dq_b = DepthwiseQuantizer(groups, codes, E // groups)
        self.up_b = Decoder(E, C)
        self.dec = Decoder(2 * C if levels == 2 else C, C)
        self.head = conv(C, 3 * mixtures, 3)

    def forward(self, x):
        x = F.pad(x, (2, 2, 2, 2))
        c1, c2, c3, res = self.enc_b
        hb = F.relu(res(c3(F.relu(c2(F.relu(c1(x)))))))
        vq, qt, bottom_in = [], None, hb
        if self.levels == 2:
            t1, t2, tres = self.enc_t
            ht = F.relu(tres(t2(F.relu(t1(hb)))))
            qt, lt = self.dq_t(self.proj_t(ht))
            vq.append(lt)
            bottom_in = torch.cat([hb, self.dec_t(qt)], 1)
        qb, lb = self.dq_b(self.proj_b(bottom_in))
        vq.append(lb)
        parts = [self.up_b(qb)]
        if qt is not None:
            parts.append(self.up_t(F.interpolate(qt, scale_factor=2, mode='nearest')))
        merged = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        return self.head(F.relu(self.dec(merged))), vq


def mixture_nll(params, x):
    """src/methods/dq/mixture.ts mixtureNll on NCHW parameters [N, 3·nMix, H, W]; x [N, 1, H, W] in [0, 1]. Per image, nats."""
    n = params.shape[1] // 3
    logits, means, raw_scales = params.split([n, n, n], 1)
    log_scales = raw_scales.clamp(min=-7)
    xs = x * 2 - 1
    centred = xs - means
    inv = torch.exp(-log_scales)
    plus_in = inv * (centred + 1 / 255)
    min_in = inv * (centred - 1 / 255)
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus_cdf_min = -F.softplus(min_in)
    log_mid = torch.log((torch.sigmoid(plus_in) - torch.sigmoid(min_in)).clamp(min=1e-12))
    low = (xs < -0.999).float()
    high = (xs > 0.999).float()
    mid = 1 - (low + high)
    log_probs = low * log_cdf_plus + high * log_one_minus_cdf_min + mid * log_mid
    per_pixel = torch.logsumexp(log_probs + F.log_softmax(logits, 1), 1)
    return -per_pixel.sum((1, 2))


def dq_loss(params, vq, x):
    """src/methods/dq/run.ts dqLoss: NLL in nats per dimension (784 pixels) over the cropped 28x28 + Σ levels mean vq."""
    off = (params.shape[2] - 28) // 2
    p = params[:, :, off:off + 28, off:off + 28]
    nll = mixture_nll(p, x).mean() / (x.shape[1] * x.shape[2] * x.shape[3])
    return nll + sum(v.mean() for v in vq)


def macs_per_image(model):
    """Multiply-accumulates of one forward pass of the convolutions (transposed: input positions × Cin × Cout × k²)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.ConvTranspose2d):
            total[0] += inp[0][0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        else:
            total[0] += out[0].numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 1, 28, 28))
    model.train()
    for h in hs:
        h.remove()
    return total[0]


def fashion_train_bytes():
    """The Fashion-MNIST training images as uint8 [60000, 28, 28] (IDX, gzipped or not), as lowbit's side reads them."""
    for name in ('train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz'):
        path = os.path.join(FASHION_DIR, name)
        if os.path.exists(path):
            raw = open(path, 'rb').read()
            if raw[:2] == b'\x1f\x8b':
                raw = gzip.decompress(raw)
            count, rows, cols = (int.from_bytes(raw[i:i + 4], 'big') for i in (4, 8, 12))
            return np.frombuffer(raw, np.uint8, offset=16).reshape(count, rows, cols)
    raise SystemExit(f'no Fashion-MNIST training images in {FASHION_DIR} (set LOWBIT_DATA_DIR)')


def train_row(a, warmup=2):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    images = fashion_train_bytes()
    model = DqAutoencoder(a.groups, a.codes, a.levels, a.embed, a.width, a.mixtures)
    macs = macs_per_image(model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.999), eps=1e-7)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(a.seed)).numpy()
    losses = []

    def step(i):
        sel = np.sort(order[i * a.batch:(i + 1) * a.batch])
        x = torch.from_numpy(images[sel].astype(np.float32) / 255).reshape(-1, 1, 28, 28)
        opt.zero_grad()
        params, vq = model(x)
        loss = dq_loss(params, vq, x)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    for i in range(warmup):
        step(i)
    prof = None
    t = time.perf_counter()
    c = time.process_time()  # CPU seconds of this process, all threads
    if a.profile:
        with torch.autograd.profiler.profile() as prof:
            for i in range(a.steps):
                step(warmup + i)
    else:
        for i in range(a.steps):
            step(warmup + i)
    seconds = time.perf_counter() - t
    cpu_seconds = time.process_time() - c
    ips = a.batch * a.steps / seconds
    row = {'side': 'pytorch', 'model': 'dq-autoencoder', 'batch': a.batch, 'steps': a.steps, 'threads': a.threads,
           'options': {'groups': a.groups, 'codes': a.codes, 'levels': a.levels, 'embed': a.embed, 'width': a.width, 'mixtures': a.mixtures},
           'imagesPerSecond': ips, 'msPerStep': 1000 * seconds / a.steps, 'cpuMsPerStep': 1000 * cpu_seconds / a.steps, 'macsPerImage': macs,
           'params': sum(p.numel() for p in model.parameters()),
           'firstLoss': losses[0], 'losses': losses, 'lastStats': {'dq_b': model.dq_b.last_stats, 'dq_t': model.dq_t.last_stats if a.levels == 2 else None},
           'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if prof is not None:
        table = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in table)
        # Inclusive CPU time of the quantizers' two scopes (all levels): the nearest-code search and the
        # statistics + EMA step + dead-code restarts; and the whole profiled time, per step.
        row['phases'] = {e.key: {'msPerStep': e.cpu_time_total / 1000 / a.steps, 'callsPerStep': e.count / a.steps}
                         for e in table if e.key in ('dq.search', 'dq.update')}
        row['profiledOpsMsPerStep'] = total / 1000 / a.steps
        row['command'] = ' '.join(['/usr/bin/python3', *sys.argv])
        try:
            row['commit'] = subprocess.check_output(['git', 'rev-parse', '--short=12', 'HEAD'], text=True).strip()
        except (OSError, subprocess.CalledProcessError):
            row['commit'] = 'unknown'
        row['date'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        row['profile'] = [{'op': e.key, 'selfMs': e.self_cpu_time_total / 1000 / a.steps, 'share': e.self_cpu_time_total / total, 'calls': e.count // a.steps}
                          for e in sorted(table, key=lambda e: -e.self_cpu_time_total)[:25]]
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--groups', type=int, default=4)
    p.add_argument('--codes', type=int, default=32)
    p.add_argument('--levels', type=int, default=2, choices=[1, 2])
    p.add_argument('--embed', type=int, default=32)
    p.add_argument('--width', type=int, default=32)
    p.add_argument('--mixtures', type=int, default=5)
    p.add_argument('--linear', default='onednn', choices=['onednn', 'blas'])
    p.add_argument('--deconv', default='onednn', choices=['onednn', 'torch'])
    p.add_argument('--profile', action='store_true')
    a = p.parse_args()
    LINEAR[0] = a.linear
    DECONV[0] = a.deconv
    row = train_row(a)
    row['torch'] = torch.__version__
    row['linear'] = a.linear
    row['deconv'] = a.deconv
    row['torchThreads'] = torch.get_num_threads()
    sys.stdout.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
