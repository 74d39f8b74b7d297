"""The paper's JEPA-SCORE listing in PyTorch, on a DINOv2 ViT folder (config.json + model.safetensors).

Used by bench/run.ts to time the reference side by side with jepa-score on the same weights.
Prints one JSON line: {"seconds": [...], "score": ..., "embedding": [...]}.
Needs only torch and numpy (Debian: python3-torch); reads safetensors by hand.
"""
import json, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "F64": np.float64}[e["dtype"]]
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).reshape(e["shape"]).copy())
    return out


class Block(nn.Module):
    def __init__(self, d, heads, hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.ls1 = nn.Parameter(torch.ones(d))
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
        self.ls2 = nn.Parameter(torch.ones(d))
        self.heads = heads

    def forward(self, x):
        B, N, D = x.shape
        h = self.norm1(x)
        sh = lambda t: t.view(B, N, self.heads, D // self.heads).transpose(1, 2)
        q, k, v = sh(self.q(h)), sh(self.k(h)), sh(self.v(h))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // self.heads), dim=-1)
        x = x + self.ls1 * self.proj((a @ v).transpose(1, 2).reshape(B, N, D))
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Dinov2(nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        d, p = cfg["hidden_size"], cfg["patch_size"]
        eps = cfg.get("layer_norm_eps", 1e-6)
        hidden = int(d * cfg.get("mlp_ratio", 4))
        self.patch = nn.Conv2d(3, d, p, p)
        self.cls = nn.Parameter(w["embeddings.cls_token"])
        self.pos = nn.Parameter(w["embeddings.position_embeddings"])
        self.blocks = nn.ModuleList([Block(d, cfg["num_attention_heads"], hidden, eps) for _ in range(cfg["num_hidden_layers"])])
        self.norm = nn.LayerNorm(d, eps=eps)
        with torch.no_grad():
            self.patch.weight.copy_(w["embeddings.patch_embeddings.projection.weight"])
            self.patch.bias.copy_(w["embeddings.patch_embeddings.projection.bias"])
            for i, b in enumerate(self.blocks):
                pre = f"encoder.layer.{i}."
                for mod, name in [(b.norm1, "norm1"), (b.norm2, "norm2"), (b.q, "attention.attention.query"), (b.k, "attention.attention.key"),
                                  (b.v, "attention.attention.value"), (b.proj, "attention.output.dense"), (b.fc1, "mlp.fc1"), (b.fc2, "mlp.fc2")]:
                    mod.weight.copy_(w[pre + name + ".weight"])
                    mod.bias.copy_(w[pre + name + ".bias"])
                b.ls1.copy_(w[pre + "layer_scale1.lambda1"])
                b.ls2.copy_(w[pre + "layer_scale2.lambda1"])
            self.norm.weight.copy_(w["layernorm.weight"])
            self.norm.bias.copy_(w["layernorm.bias"])

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1) + self.pos
        for b in self.blocks:
            t = b(t)
        return self.norm(t)[:, 0]


# The paper's listing: one backward pass per embedding dimension, then svdvals.
def jepa_score(model, x, eps=1e-6):
    x = x.clone().requires_grad_(True)
    z = model(x)
    J = torch.stack([torch.autograd.grad(z[0, k], x, retain_graph=True)[0].flatten() for k in range(z.shape[1])])
    return torch.linalg.svdvals(J).clip(eps).log().sum(), z


def main():
    folder, inputs, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    torch.set_num_threads(int(os.environ.get("JEPA_THREADS", os.cpu_count())))
    cfg = json.load(open(os.path.join(folder, "config.json")))
    model = Dinov2(cfg, read_safetensors(os.path.join(folder, "model.safetensors"))).eval()
    x = read_safetensors(inputs)["pixel_values"][:1]
    # Debian's torch uses whatever libblas.so.3 points to (reference BLAS, or OpenBLAS when installed)
    blas = "libblas.so.3" if "BLAS_INFO=generic" in torch.__config__.show() else "bundled"
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas}
    if rows:
        # Too slow to run whole: time the listing's parts and project one image = forward + K rows + svdvals.
        xr = x.clone().requires_grad_(True)
        t = time.perf_counter()
        z = model(xr)
        fwd = time.perf_counter() - t
        secs = []
        for k in range(rows + 1):
            t = time.perf_counter()
            torch.autograd.grad(z[0, k], xr, retain_graph=True)
            secs.append(time.perf_counter() - t)
        secs = sorted(secs[1:])
        row = secs[len(secs) // 2]
        J = torch.randn(z.shape[1], xr.numel())
        t = time.perf_counter()
        torch.linalg.svdvals(J)
        svd = time.perf_counter() - t
        print(json.dumps({**info, "forward_seconds": fwd, "row_seconds": secs, "svd_seconds": svd, "projected_seconds": fwd + z.shape[1] * row + svd}))
        return
    secs, score, z = [], None, None
    for r in range(runs):
        t = time.perf_counter()
        score, z = jepa_score(model, x)
        secs.append(time.perf_counter() - t)
    print(json.dumps({**info, "seconds": secs, "score": float(score), "embedding": z[0].detach().tolist()}))


if __name__ == "__main__":
    main()
