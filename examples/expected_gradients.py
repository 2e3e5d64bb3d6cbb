"""Expected Gradients on a digits classifier: references, samplers, standard errors.

Run: python examples/expected_gradients.py   (a few seconds on a CPU)
"""

import torch
from sklearn.datasets import load_digits

import pathattr

digits = load_digits()
x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(200):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x[:1000]), y[:1000]).backward()
    opt.step()
model.eval()

inputs, targets = x[1000:1004], y[1000:1004]
references = x[:1000]  # the training data is the reference distribution

# 1. the estimate, its base value E[F(x')] and its Monte-Carlo standard error
res = pathattr.expected_gradients(
    model, inputs, references=references, target=targets, samples=256, seed=0
)
print(res)
print("base value (mean F over drawn refs):", res.baseline_output)
print("base value (mean F over all refs)  :", res.extras["reference_set_output"])
print("completeness residual              :", res.delta)
se = res.extras["standard_error"]
print("median |attribution| / median SE    :", float(res.attributions.abs().median() / se.median()))

# 2. stratified and Sobol draws: same cost.  By default their k samples are 8 independent
# designs, so that the standard error is honest; replicates=1 draws one design of all k
# (smaller error, but only a conservative standard error)
exact = pathattr.noise_integrated_gradients(
    model, inputs, target=targets, baselines=references, steps=64
).attributions  # exact EG over the 1000 references, up to quadrature error
for sampling, replicates in [("random", None), ("stratified", None), ("sobol", None),
                             ("stratified", 1), ("sobol", 1)]:  # fmt: skip
    r = pathattr.expected_gradients(
        model, inputs, references=references, target=targets, samples=256, sampling=sampling,
        seed=1, replicates=replicates,
    )  # fmt: skip
    err = float((r.attributions - exact).norm() / exact.norm())
    print(
        f"{sampling:10s} replicates={r.extras['replicates']} relative error {err:.4f}, "
        f"SE method {r.extras['standard_error_method']}"
    )

# 3. references from a Dataset (only the drawn rows are read) or a callable sampler
dataset = torch.utils.data.TensorDataset(references, y[:1000])
from_ds = pathattr.expected_gradients(
    model, inputs, references=dataset, target=targets, samples=256, seed=0
)
print("Dataset == tensor references:", torch.allclose(from_ds.attributions, res.attributions))


def blurred(n: int, generator: torch.Generator) -> torch.Tensor:
    """References drawn on the fly: random training digits, heavily smoothed."""
    rows = references[torch.randint(0, 1000, (n,), generator=generator)].reshape(n, 1, 8, 8)
    return torch.nn.functional.avg_pool2d(rows, 3, 1, 1, count_include_pad=False).reshape(n, 64)


print(
    pathattr.expected_gradients(
        model, inputs, references=blurred, target=targets, samples=64, seed=0
    )
)

# 4. training mode: one sample per example, references = the rest of the batch, differentiable
batch = x[:32]
eg = pathattr.expected_gradients(
    model,
    batch,
    references="batch",
    target=y[:32],
    samples=1,
    seed=0,
    create_graph=True,
    batch_size=None,
)
penalty = eg.attributions.abs().sum()  # e.g. a sparsity prior
penalty.backward()
print("prior gradient norm:", float(model[0].weight.grad.norm()))
