#!/usr/bin/python3
"""The three bundled vaec models (models/*.yaml) and examples/conv_bn_dropout.yaml
in PyTorch, as a baseline.

Run with Debian's interpreter and python3-torch (1.13):

    /usr/bin/python3 bench/torch_vae.py --model mnist_mlp --epochs 10
    /usr/bin/python3 bench/torch_vae.py --model mnist_conv --batch 128 --max-steps 200

Each model is written exactly as its YAML says (layers, PyTorch default
initialisation, loss, optimizer, batch).  The data are the IDX files read with
numpy, pre-loaded as float32 / 255 (not binarized) and reshuffled every epoch
with a seeded generator, like DataLoader(shuffle=True, drop_last=False).

Per epoch it prints the train and test loss per image (recon and KL split;
the test loss is over all 10,000 test images) and images/s of the training
loop alone: from taking a batch out of the pre-loaded tensor to the end of
optimizer.step(), file reading and evaluation excluded.  The last line is

    RESULT {"framework": "pytorch", "model": ..., "batch": ..., "images_per_sec": ...,
            "train_loss": ..., "test_loss": ..., "peak_rss_mib": ..., "threads": ..., ...}

"Loss per image" is each model's losses.total in its own units, averaged
over images: mnist_mlp sums over the batch, so its per-image loss is the sum
divided by the number of images (nats per image, ~105 after 10 epochs);
mnist_conv (mean pixel BCE + KL term) and fashion_mlp (sums / batch) are
already batch means, so theirs is the image-weighted mean of the batch
losses.
"""

import argparse
import json
import os
import resource
import sys
import time

MODELS = {
    # name: (data set directory under data/, default batch)
    "mnist_mlp": ("mnist", 128),
    "mnist_conv": ("mnist", 16),
    "fashion_mlp": ("fashion", 512),
    "conv_bn_dropout": ("fashion", 128),
}
PARAMS = {"mnist_mlp": 652824, "mnist_conv": 550629, "fashion_mlp": 205604,
          "conv_bn_dropout": 191521}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="mnist_mlp")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=0, help="default: the model's train.batch")
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads (intra-op threads); default: torch's own")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="sets OPENBLAS_NUM_THREADS before torch loads, unless the "
                        "environment already sets it; default: leave it alone")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop training after this many optimizer steps in all (0: no limit)")
    p.add_argument("--warmup", type=int, default=0,
                   help="leave the first N steps out of the images/s figure")
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): denormal floats become 0, as in vaec's "
                        "trainer (PyTorch's default keeps them; its Adam then slows down as "
                        "training goes on)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.0, help="default: the model's")
    p.add_argument("--data", default="", help="directory with the four IDX files "
                   "(default: data/mnist or data/fashion beside bench/)")
    p.add_argument("--no-test", action="store_true", help="skip the test-set evaluation")
    p.add_argument("--drop-last", action="store_true",
                   help="drop the last partial batch of every epoch")
    a = p.parse_args(argv)
    if a.batch <= 0:
        a.batch = MODELS[a.model][1]
    if not a.data:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        a.data = os.path.join(root, "data", MODELS[a.model][0])
    return a


ARGS = parse_args(sys.argv[1:])
if ARGS.blas_threads > 0:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.blas_threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


# ------------------------------------------------------------------ data
def read_idx_images(path):
    with open(path, "rb") as f:
        buf = f.read()
    magic, n, rows, cols = np.frombuffer(buf, dtype=">u4", count=4)
    if magic != 0x803 or len(buf) != 16 + int(n) * int(rows) * int(cols):
        sys.exit("torch_vae: %s: not an IDX image file" % path)
    x = np.frombuffer(buf, dtype=np.uint8, offset=16).reshape(int(n), int(rows) * int(cols))
    x = x.astype(np.float32)        # one float copy: divide in place
    x /= np.float32(255.0)
    return torch.from_numpy(x)


def load(data_dir):
    out = []
    for split in ("train", "t10k"):
        path = os.path.join(data_dir, split + "-images-idx3-ubyte")
        if not os.path.exists(path):
            sys.exit("torch_vae: %s missing (run scripts/setup.sh)" % path)
        out.append(read_idx_images(path))
    return out


# ---------------------------------------------------------------- models
def kl_sum(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def per_image_losses(logits, x, mu, logvar):
    """sum(bce_logits(logits, x)) / batch and the KL sum / batch."""
    b = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b
    return recon, kl_sum(mu, logvar) / b


def adam(params, lr):
    return torch.optim.Adam(params, lr=lr or 1e-3)


class MnistMLP(nn.Module):
    """models/mnist_mlp.yaml: the PyTorch examples VAE, 784-400-20-400-784."""
    batch_mean = False          # losses are sums over the batch

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        recon = F.binary_cross_entropy(x_hat, x, reduction="sum")
        return recon, kl_sum(mu, logvar)

    optimizer = staticmethod(adam)


class MnistConv(nn.Module):
    """models/mnist_conv.yaml: Chollet's conv VAE (DLwP §8.4), latent 2."""
    batch_mean = True           # losses are means over the batch

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(64, 64, 3, padding=1)
        self.c4 = nn.Conv2d(64, 64, 3, padding=1)
        self.h = nn.Linear(64 * 14 * 14, 32)
        self.mu = nn.Linear(32, 2)
        self.logvar = nn.Linear(32, 2)
        self.d = nn.Linear(2, 64 * 14 * 14)
        self.d2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x):
        img = x.view(-1, 1, 28, 28)
        c = F.relu(self.c1(img))
        c = F.relu(self.c2(c))
        c = F.relu(self.c3(c))
        c = F.relu(self.c4(c))
        h = F.relu(self.h(torch.flatten(c, 1)))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(logvar) * torch.randn_like(mu)       # as the book writes it
        d = F.relu(self.d(z)).view(-1, 64, 14, 14)
        d2 = F.relu(self.d2(d))
        x_hat = torch.sigmoid(self.out(d2))
        recon = F.binary_cross_entropy(x_hat, img, reduction="mean")
        kl = -5e-4 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
        return recon, kl

    @staticmethod
    def optimizer(params, lr):
        return torch.optim.RMSprop(params, lr=lr or 1e-3, alpha=0.9, eps=1e-7)


class FashionMLP(nn.Module):
    """models/fashion_mlp.yaml: the TF2 Fashion-MNIST VAE, 784-128-10, logits out."""
    batch_mean = True           # sums per image, divided by the batch

    def __init__(self):
        super().__init__()
        self.h = nn.Linear(784, 128)
        self.mu = nn.Linear(128, 10)
        self.logvar = nn.Linear(128, 10)
        self.h2 = nn.Linear(10, 128)
        self.logits = nn.Linear(128, 784)

    def forward(self, x):
        h = F.relu(self.h(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.logits(F.relu(self.h2(z)))
        return per_image_losses(logits, x, mu, logvar)

    optimizer = staticmethod(adam)


class ConvBnDropout(nn.Module):
    """examples/conv_bn_dropout.yaml: strided convs with batch norm, dropout and leaky_relu."""
    batch_mean = True           # sums per image, divided by the batch

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(32)
        self.c2 = nn.Conv2d(32, 64, 3, stride=2)
        self.bn2 = nn.BatchNorm2d(64)
        self.mu = nn.Linear(64 * 7 * 7, 16)
        self.logvar = nn.Linear(64 * 7 * 7, 16)
        self.d = nn.Linear(16, 64 * 7 * 7)
        self.u1 = nn.ConvTranspose2d(64, 32, 3, stride=2)
        self.bnu = nn.BatchNorm2d(32)
        self.logits = nn.ConvTranspose2d(32, 1, 3, stride=2)

    def forward(self, x):
        img = x.view(-1, 1, 28, 28)
        # TensorFlow's 'same' at stride 2 pads only the bottom and right; the
        # transposed convolutions' counterpart is a crop of the last row and column.
        c = F.leaky_relu(self.bn1(self.c1(F.pad(img, (0, 1, 0, 1)))), 0.2)
        c = F.leaky_relu(self.bn2(self.c2(F.pad(c, (0, 1, 0, 1)))), 0.2)
        h = F.dropout(torch.flatten(c, 1), 0.2, self.training)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        d = F.relu(self.d(z)).view(-1, 64, 7, 7)
        u = F.leaky_relu(self.bnu(self.u1(d)[:, :, :14, :14]), 0.2)
        logits = self.logits(u)[:, :, :28, :28]
        return per_image_losses(logits, img, mu, logvar)

    optimizer = staticmethod(adam)


CLASSES = {"mnist_mlp": MnistMLP, "mnist_conv": MnistConv, "fashion_mlp": FashionMLP,
           "conv_bn_dropout": ConvBnDropout}


# ---------------------------------------------------------------- helpers
def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def blas_library():
    """The BLAS shared object actually mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    real = sorted({os.path.realpath(p) for p in libs})
    return ",".join(real) if real else "none"


class Meter:
    """Loss per image: see the module docstring."""

    def __init__(self, batch_mean):
        self.batch_mean, self.n, self.recon, self.kl = batch_mean, 0, 0.0, 0.0

    def add(self, recon, kl, b):
        w = b if self.batch_mean else 1
        self.recon += recon * w
        self.kl += kl * w
        self.n += b

    def get(self):
        n = max(self.n, 1)
        return self.recon / n, self.kl / n, (self.recon + self.kl) / n


def evaluate(model, x_test, batch):
    m = Meter(model.batch_mean)
    with torch.no_grad():
        for i in range(0, x_test.shape[0], batch):
            xb = x_test[i:i + batch]
            recon, kl = model(xb)
            m.add(recon.item(), kl.item(), xb.shape[0])
    return m.get()


# ------------------------------------------------------------------ main
def main(a):
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("torch_vae: this CPU cannot flush denormals (torch.set_flush_denormal)")
    torch.manual_seed(a.seed)
    x_train, x_test = load(a.data)

    model = CLASSES[a.model]()
    n_params = sum(p.numel() for p in model.parameters())
    print("model %s: %s parameters (expected %s)%s" % (
        a.model, format(n_params, ","), format(PARAMS[a.model], ","),
        "" if n_params == PARAMS[a.model] else "  MISMATCH"))
    if n_params != PARAMS[a.model]:
        sys.exit(1)
    opt = model.optimizer(model.parameters(), a.lr)
    print("torch %s, intra-op threads %d, OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s, blas %s"
          % (torch.__version__, torch.get_num_threads(),
             os.environ.get("OPENBLAS_NUM_THREADS", "-"), os.environ.get("OMP_NUM_THREADS", "-"),
             blas_library()))
    print("data %s: %d train, %d test images; batch %d" % (
        a.data, x_train.shape[0], x_test.shape[0], a.batch))

    shuffle = torch.Generator()
    shuffle.manual_seed(a.seed)
    n = x_train.shape[0]
    steps = 0
    timed_images, timed_seconds, timed_cpu = 0, 0.0, 0.0
    train = test = (float("nan"),) * 3
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=shuffle)
        meter = Meter(model.batch_mean)
        ep_steps, ep_images, ep_seconds = 0, 0, 0.0
        stop = n - n % a.batch if a.drop_last else n
        for i in range(0, stop, a.batch):
            if a.max_steps and steps >= a.max_steps:
                break
            t0, c0 = time.perf_counter(), time.process_time()
            xb = x_train[perm[i:i + a.batch]]
            recon, kl = model(xb)
            loss = recon + kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            r, k = recon.item(), kl.item()
            dt = time.perf_counter() - t0
            dc = time.process_time() - c0
            b = xb.shape[0]
            meter.add(r, k, b)
            steps += 1
            ep_steps += 1
            ep_images += b
            ep_seconds += dt
            if steps > a.warmup:
                timed_images += b
                timed_seconds += dt
                timed_cpu += dc
        train = meter.get()
        if not a.no_test:
            model.eval()
            test = evaluate(model, x_test, a.batch)
        print("epoch %d: %d steps, train loss %.4f (recon %.4f, kl %.4f), "
              "test loss %.4f (recon %.4f, kl %.4f), %.1f images/s"
              % (epoch, ep_steps, train[2], train[0],
                 train[1], test[2], test[0], test[1],
                 ep_images / ep_seconds if ep_seconds else 0.0), flush=True)
        if a.max_steps and steps >= a.max_steps:
            break

    ips = timed_images / timed_seconds if timed_seconds else 0.0
    result = {
        "framework": "pytorch", "model": a.model, "batch": a.batch,
        "images_per_sec": round(ips, 1), "train_loss": round(train[2], 6),
        "test_loss": None if a.no_test else round(test[2], 6),
        "peak_rss_mib": round(peak_rss_mib(), 1), "threads": torch.get_num_threads(),
        "steps": steps, "train_seconds": round(timed_seconds, 3),
        "train_cpu_seconds": round(timed_cpu, 3), "loadavg": os.getloadavg()[0],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "blas": os.path.basename(os.path.dirname(blas_library().split(",")[0])),
        "torch": torch.__version__, "flush_denormal": a.flush_denormal,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(ARGS)
