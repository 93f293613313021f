"""
PyTorch reference for `npm run bench` (issue 10): the same vgg-small and lenet5 as lowbit's model
zoo (src/models), trained with Adam on random 28×28×1 batches, float32, CPU, channels-first
(PyTorch's default). img/s over timed steps after warm-up, for 1 and 2 threads. Not a lowbit
dependency: Debian's python3-torch (1.13) on the same machine, for comparison only.

  /usr/bin/python3 bench/pytorch-reference.py [--steps 20] [--out bench/results/pytorch-reference.json]
"""
import argparse, json, os, platform, time
import torch
import torch.nn as nn


def vgg_small():
    layers, c = [], 1
    for f in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(c, f, 3, padding=1, bias=False), nn.BatchNorm2d(f, eps=1e-5, momentum=0.1), nn.ReLU()]
            c = f
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Conv2d(128, 256, 3, bias=False), nn.BatchNorm2d(256, eps=1e-5, momentum=0.1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, bias=False), nn.BatchNorm2d(20), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, bias=False), nn.BatchNorm2d(50), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500, bias=False), nn.BatchNorm1d(500), nn.ReLU(), nn.Linear(500, 10))


def measure(build, batch, threads, steps, warmup=3):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t
    return {'imagesPerSecond': batch * steps / seconds, 'msPerStep': 1000 * seconds / steps}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--out', default='bench/results/pytorch-reference.json')
    a = p.parse_args()
    rows = []
    for name, build in (('vgg-small', vgg_small), ('lenet5', lenet5)):
        for threads in (1, 2):
            for batch in (64, 128):
                r = {'model': name, 'threads': threads, 'batch': batch, **measure(build, batch, threads, a.steps)}
                rows.append(r)
                print(f"{name:10} threads {threads} batch {batch:4} {r['imagesPerSecond']:8.1f} img/s {r['msPerStep']:7.1f} ms/step", flush=True)
    out = {'command': f'/usr/bin/python3 bench/pytorch-reference.py --steps {a.steps}', 'torch': torch.__version__,
           'mkldnn': torch.backends.mkldnn.is_available(), 'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count(),
           'note': 'Adam lr 1e-3, float32, random 28x28x1 batches, NCHW, img/s over timed steps after 3 warm-up steps', 'rows': rows}
    with open(a.out, 'w') as f:
        json.dump(out, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    main()
