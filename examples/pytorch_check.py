#!/usr/bin/python3
"""pytorch_check.py WEIGHTS.safetensors VAEC.json DATA_DIR

Loads the weights `train export` wrote into the same VAE in PyTorch and
checks that it computes what vaec computed: mu, logvar and the reconstruction
(the decoder's mean image at z = mu) of the first test images, as written by
`train reconstruct --json VAEC.json`.

The model is the dense VAE of models/mnist_mlp.yaml, mnist_latent2.yaml,
fashion_mlp.yaml and examples/beta_vae.yaml:

    h = relu(Linear(x)); mu = Linear(h); logvar = Linear(h)
    h2 = relu(Linear(z)); mean = sigmoid(Linear(h2))       (x_hat or logits)

and the conv VAE of models/mnist_conv.yaml (Deep Learning with Python §8.4):
four convs, dense 32, mu/logvar, dense 64*14*14, a transposed conv and a
sigmoid conv, with TensorFlow's 'same' padding (stride 2 pads only the
bottom and right: F.pad, or a crop after the transposed conv),

with vaec's names (h.w, h.b, ...) and PyTorch's layouts (nn.Linear's weight
is [out, in], nn.Conv2d's [out, in, kh, kw], nn.ConvTranspose2d's
[in, out, kh, kw], as vaec stores them). The safetensors file is parsed
with json and struct alone, so the safetensors package is not needed.
Exits 1 when any value differs by more than 1e-4."""
import json
import struct
import sys

import torch
from torch import nn
from torch.nn import functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        values = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = values.reshape(info["shape"])
    return tensors, header.get("__metadata__", {})


class MlpVae(nn.Module):
    def __init__(self, t, out_name):
        super().__init__()
        linear = lambda n: nn.Linear(t[n + ".w"].shape[1], t[n + ".w"].shape[0])
        self.h, self.mu, self.logvar, self.h2, self.out = (linear(n) for n in ("h", "mu", "logvar", "h2", out_name))
        with torch.no_grad():
            for layer, n in ((self.h, "h"), (self.mu, "mu"), (self.logvar, "logvar"), (self.h2, "h2"),
                             (self.out, out_name)):
                layer.weight.copy_(t[n + ".w"])
                layer.bias.copy_(t[n + ".b"])

    def encode(self, x):
        h = torch.relu(self.h(x))
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        return torch.sigmoid(self.out(torch.relu(self.h2(z))))


class ConvVae(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.t = t  # the exported tensors, used as they are

    def conv(self, name, x, stride=1, pad=(1, 1, 1, 1)):  # pad: left, right, top, bottom
        return F.conv2d(F.pad(x, pad), self.t[name + ".w"], self.t[name + ".b"], stride=stride)

    def encode(self, x):
        c = torch.relu(self.conv("c1", x.view(-1, 1, 28, 28)))
        c = torch.relu(self.conv("c2", c, stride=2, pad=(0, 1, 0, 1)))  # 'same' at stride 2
        c = torch.relu(self.conv("c3", c))
        c = torch.relu(self.conv("c4", c))
        h = torch.relu(F.linear(c.flatten(1), self.t["h.w"], self.t["h.b"]))
        return F.linear(h, self.t["mu.w"], self.t["mu.b"]), F.linear(h, self.t["logvar.w"], self.t["logvar.b"])

    def decode(self, z):
        d = torch.relu(F.linear(z, self.t["d.w"], self.t["d.b"])).view(-1, 64, 14, 14)
        d2 = F.conv_transpose2d(d, self.t["d2.w"], self.t["d2.b"], stride=2)[:, :, :28, :28]  # 'same': 29 -> 28
        return torch.sigmoid(self.conv("x_hat", torch.relu(d2))).flatten(1)


def test_images(data_dir, count):
    with open(f"{data_dir}/t10k-images-idx3-ubyte", "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051 or n < count:
            sys.exit(f"{data_dir}/t10k-images-idx3-ubyte: not an IDX image file with {count} images")
        raw = f.read(count * rows * cols)
    return torch.tensor(list(raw), dtype=torch.float32).reshape(count, rows * cols) / 255.0


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tensors, meta = load_safetensors(sys.argv[1])
    out_name = next((n for n in ("x_hat", "logits") if n + ".w" in tensors), None)
    if all(n + ".w" in tensors for n in ("c1", "c2", "c3", "c4", "h", "mu", "logvar", "d", "d2", "x_hat")):
        model = ConvVae(tensors)
    elif out_name is not None and all(n + ".w" in tensors for n in ("h", "mu", "logvar", "h2")):
        model = MlpVae(tensors, out_name).eval()
    else:
        sys.exit(f"{sys.argv[1]}: not a VAE this example knows (tensors: {', '.join(tensors)})")
    with open(sys.argv[2]) as f:
        vaec = json.load(f)
    count = vaec["images"]
    x = test_images(sys.argv[3], count)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mean = model.decode(mu)
    worst = 0.0
    for name, ours in (("mu", mu), ("logvar", logvar), ("mean", mean)):
        theirs = torch.tensor(vaec["mean"] if name == "mean" else vaec["encode"][name])
        diff = (ours - theirs).abs().max().item()
        worst = max(worst, diff)
        print(f"{name:7s} {tuple(ours.shape)}: largest difference PyTorch - vaec {diff:.2e}")
    print(f"model {meta.get('model', '?')} (epoch {meta.get('epoch', '?')}), {count} test images: "
          + ("PyTorch agrees with vaec" if worst <= 1e-4 else "DIFFERENT"))
    sys.exit(0 if worst <= 1e-4 else 1)


main()
