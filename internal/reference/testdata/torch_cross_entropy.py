"""Writes torch_cross_entropy.json: F.cross_entropy's loss, per-row losses and
gradient (autograd, float64) on float32 inputs, with every option PyTorch
has, plus PaLM's z-loss as kernels defines it (z·lse² per counted row, added
before the reduction). TestCrossEntropyWithTorch holds CrossEntropyWith to
it. Run: python3 torch_cross_entropy.py > torch_cross_entropy.json"""
import json, math
import torch
import torch.nn.functional as F

torch.manual_seed(1)
IGNORE = -1
cases = []


def case(name, x, labels, weight=None, eps=0.0, z=0.0, reduction="mean"):
    x = x.to(torch.float32).to(torch.float64).requires_grad_(True)
    y = torch.tensor(labels)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float32).to(torch.float64)
    per = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction="none", label_smoothing=eps)
    mask = (y != IGNORE).to(torch.float64)
    lse = torch.logsumexp(x, 1)
    per = per + z * lse * lse * mask
    if z == 0 and reduction != "none":
        # PyTorch's own reduction (its gradient of an empty mean is 0).
        loss = F.cross_entropy(x, y, weight=w, ignore_index=IGNORE, reduction=reduction, label_smoothing=eps)
    elif reduction == "mean":
        wy = mask if w is None else w[y.clamp(min=0)] * mask
        loss = per.sum() / wy.sum()
    else:
        loss = per.sum()
    loss.backward()
    def num(v):
        v = float(v)
        return v if math.isfinite(v) else str(v)
    cases.append({
        "name": name, "cols": x.shape[1],
        "logits": [num(v) for v in x.detach().flatten()],
        "labels": labels, "weights": weight, "smoothing": eps, "z": z, "reduction": reduction,
        "loss": num(loss), "rowLoss": [num(v) for v in per.detach()],
        "grad": [num(v) for v in x.grad.flatten()],
    })


R, C = 6, 7
labels = [3, IGNORE, 0, 6, 2, 2]
weights = [0.5, 2.0, 1.0, 0.25, 3.0, 0.0, 1.5]
for red in ["mean", "sum", "none"]:
    x = torch.randn(R, C) * 3
    case("plain/" + red, x, labels, reduction=red)
    case("weights/" + red, x, labels, weight=weights, reduction=red)
    case("smoothing/" + red, x, labels, eps=0.1, reduction=red)
    case("zloss/" + red, x, labels, z=1e-3, reduction=red)
    case("all/" + red, x, labels, weight=weights, eps=0.2, z=1e-2, reduction=red)
    case("smoothing1/" + red, x, labels, weight=weights, eps=1.0, reduction=red)
x = torch.randn(R, C) * 3
x[0, 1] = -math.inf
x[2, 5] = -math.inf  # class 5 weighs 0: 0·−Inf is NaN in the smoothed loss
case("-inf/smoothing", x, labels, eps=0.1)
case("-inf/all", x, labels, weight=weights, eps=0.1, z=1e-3)
case("-inf/weights", x, labels, weight=weights)
x = torch.randn(4, 3)
case("ignored/mean", x, [IGNORE] * 4, weight=[1.0, 2.0, 3.0], eps=0.1)
case("ignored/sum", x, [IGNORE] * 4, weight=[1.0, 2.0, 3.0], eps=0.1, reduction="sum")
x = torch.randn(16, 10) * 5
case("short", x, [i % 10 for i in range(16)], weight=[0.1 * (i + 1) for i in range(10)], eps=0.05, z=1e-3)
x = torch.randn(3, 300) * 10
case("long", x, [7, 299, IGNORE], weight=[1.0 + (i % 3) for i in range(300)], eps=0.3, z=1e-4, reduction="sum")
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=None, separators=(",", ":")))
