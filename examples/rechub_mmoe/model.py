"""torch-rechub's MMoE (BatchNorm, Dropout, a dict of named features in, sigmoid probabilities out), unchanged,
through a ten-line factory; the data: the built-in synthetic e-commerce rows, one named entry per column."""

from torch_rechub.basic.features import DenseFeature, SparseFeature
from torch_rechub.models.multi_task import MMOE

from paretomoo.data import make_synthetic


def build(tasks, shape, experts=4, dims=(32, 16)):
    # new Feature objects on every call: rechub caches each feature's embedding table on the object
    dense = [DenseFeature(name) for name, dtype, _, _ in shape.inputs if dtype == "float32"]
    sparse = [SparseFeature(name, vocab, embed_dim=8) for name, dtype, _, vocab in shape.inputs if dtype == "int64"]
    tower = {"dims": [8], "dropout": 0.1}
    expert = {"dims": list(dims), "dropout": 0.1}  # MLP: Linear, BatchNorm1d, ReLU, Dropout
    return MMOE(dense + sparse, ["classification"] * len(tasks), experts, expert, [tower] * len(tasks))


def load(rows=20000, seed=0):
    data = make_synthetic(rows, seed, conflict=0.9, split=(0.8, 0.1, 0.1))

    def named(split):
        out = {name: split.num[:, j] for j, name in enumerate(data.num_names)}
        out.update({name: split.cat[:, j] for j, name in enumerate(data.cat_names)})
        out.update(split.labels)
        return out

    return {"train": named(data.train), "val": named(data.val), "test": named(data.test)}
