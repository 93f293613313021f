"""Per-op CPU time of PyTorch's training step for one row of bench/vs-pytorch (issue 21), to set
beside lowbit's bench/profile-step.ts output. Same model, optimizer and batch as
bench/vs-pytorch/torch_side.py train_row (it imports that file), 3 warm-up steps, then N steps
under torch.autograd.profiler; prints self-CPU time per op per step and the unprofiled ms/step.

  /usr/bin/python3 bench/results/step-profile/torch_profile.py --model mobilenet-tiny --batch 64 --threads 2 --steps 5
"""
import argparse, json, sys, time, os
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'vs-pytorch'))
import torch
import torch.nn.functional as F
import torch_side as ts

p = argparse.ArgumentParser()
p.add_argument('--model', default='mobilenet-tiny')
p.add_argument('--variant', default='float')
p.add_argument('--batch', type=int, default=64)
p.add_argument('--steps', type=int, default=5)
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = ts.quantize(ts.MODELS[a.model](), a.variant)
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.rand(a.batch, 1, 28, 28)
y = torch.randint(0, 10, (a.batch,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(a.steps):
    step()
ms = 1000 * (time.perf_counter() - t) / a.steps
with torch.autograd.profiler.profile() as prof:
    for _ in range(a.steps):
        step()
rows = []
for e in prof.key_averages():
    rows.append({'op': e.key, 'calls': e.count / a.steps, 'selfCpuMs': e.self_cpu_time_total / 1000 / a.steps,
                 'cpuMs': e.cpu_time_total / 1000 / a.steps})
rows.sort(key=lambda r: -r['selfCpuMs'])
out = {'command': 'python3 ' + ' '.join(sys.argv), 'model': a.model, 'variant': a.variant, 'batch': a.batch, 'threads': a.threads,
       'msPerStep': ms, 'opsPerStep': sum(r['calls'] for r in rows), 'selfCpuMsPerStep': sum(r['selfCpuMs'] for r in rows), 'ops': rows}
sys.stdout.write(json.dumps(out, indent=1) + '\n')
sys.stderr.write(f"{a.model} {a.variant} b{a.batch} t{a.threads}: {ms:.1f} ms/step (unprofiled); profiled self CPU {out['selfCpuMsPerStep']:.1f} ms, {out['opsPerStep']:.0f} ops\n")
for r in rows[:30]:
    sys.stderr.write(f"  {r['op']:<44} {r['selfCpuMs']:7.2f} ms {r['calls']:5.0f}x\n")
