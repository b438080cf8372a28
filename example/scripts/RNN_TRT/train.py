"""Quick Start example 4: electron/pion identification from TRT hit sequences with an LSTM.

A small LSTM (numpy only, trained with Adam) reads each track's sequence of TRT hits, and a dense
layer plus a sigmoid output give P(electron). Hyperparameters: batch_size, lr,
lstm_hidden_size, dense_size, dense_activation. Fixed parameters (model_config.param):
grid_job, num_epochs, verbose, and optionally n_tracks and seed.

Data: with grid_job=1 the tracks are read from `trt_tracks.npz` (arrays `hits`
[tracks, hits, features] and `label` [tracks]) in $HPOGRID_DATA_DIR (where the input dataset is
unpacked) or the working directory. With grid_job=0 a synthetic sample is generated: per hit the
high-threshold flag (electrons emit transition radiation, so fire it more often), the
time-over-threshold and the straw's radial position.
"""

from __future__ import annotations

import os

import numpy as np

ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))), lambda z, a: np.where(z > 0, 1.0, a + 1.0)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a**2),
}


def synthetic_tracks(n_tracks: int, n_hits: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n_tracks)
    radius = np.sort(rng.uniform(0.0, 1.0, (n_tracks, n_hits)), axis=1)
    p_high = np.where(label[:, None] == 1, 0.07 + 0.08 * radius, 0.05 + 0.03 * radius)
    high = (rng.uniform(size=(n_tracks, n_hits)) < p_high).astype(float)
    tot = rng.normal(0.5 + 0.04 * label[:, None] + 0.3 * high, 0.35)
    return np.stack([high, tot, radius], axis=-1), label.astype(float)


def load_tracks(grid_job: int, n_tracks: int, seed: int):
    if grid_job:
        for folder in (os.environ.get("HPOGRID_DATA_DIR", ""), os.getcwd()):
            path = os.path.join(folder, "trt_tracks.npz")
            if folder and os.path.isfile(path):
                data = np.load(path)
                return data["hits"].astype(float), data["label"].astype(float)
        raise FileNotFoundError("trt_tracks.npz not found in $HPOGRID_DATA_DIR or the working directory")
    return synthetic_tracks(n_tracks, seed=seed)


class LSTMClassifier:
    """LSTM over the hits -> dense layer -> sigmoid, trained on binary cross-entropy."""

    def __init__(self, n_in: int, hidden: int, dense: int, activation: str, seed: int = 0):
        rng = np.random.default_rng(seed)
        scale = 1 / np.sqrt(n_in + hidden)
        self.p = {
            "W": rng.normal(0, scale, (n_in + hidden, 4 * hidden)),
            "b": np.concatenate([np.zeros(hidden), np.ones(hidden), np.zeros(2 * hidden)]),
            "D": rng.normal(0, 1 / np.sqrt(hidden), (hidden, dense)),
            "d": np.zeros(dense),
            "V": rng.normal(0, 1 / np.sqrt(dense), (dense, 1)),
            "v": np.zeros(1),
        }
        self.hidden, self.activation = hidden, activation
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.s = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def _dense(self, z):
        if self.activation == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return ACTIVATIONS[self.activation][0](z)

    def _dense_grad(self, z, a, g):
        if self.activation == "softmax":
            return a * (g - (g * a).sum(axis=1, keepdims=True))
        return g * ACTIVATIONS[self.activation][1](z, a)

    def forward(self, x):
        n, steps, _ = x.shape
        H = self.hidden
        h, c = np.zeros((n, H)), np.zeros((n, H))
        cache = []
        for t in range(steps):
            xh = np.concatenate([x[:, t], h], axis=1)
            gates = xh @ self.p["W"] + self.p["b"]
            i, f = 1 / (1 + np.exp(-gates[:, :H])), 1 / (1 + np.exp(-gates[:, H : 2 * H]))
            o, g = 1 / (1 + np.exp(-gates[:, 2 * H : 3 * H])), np.tanh(gates[:, 3 * H :])
            c_prev = c
            c = f * c_prev + i * g
            h = o * np.tanh(c)
            cache.append((xh, i, f, o, g, c_prev, c))
        z = h @ self.p["D"] + self.p["d"]
        a = self._dense(z)
        prob = 1 / (1 + np.exp(-(a @ self.p["V"] + self.p["v"])[:, 0]))
        return prob, (cache, h, z, a)

    def loss_and_grads(self, x, y):
        prob, (cache, h, z, a) = self.forward(x)
        eps = 1e-12
        loss = -np.mean(y * np.log(prob + eps) + (1 - y) * np.log(1 - prob + eps))
        n, H = len(y), self.hidden
        grads = {k: np.zeros_like(v) for k, v in self.p.items()}
        d_logit = ((prob - y) / n)[:, None]
        grads["V"], grads["v"] = a.T @ d_logit, d_logit.sum(axis=0)
        dz = self._dense_grad(z, a, d_logit @ self.p["V"].T)
        grads["D"], grads["d"] = h.T @ dz, dz.sum(axis=0)
        dh, dc = dz @ self.p["D"].T, np.zeros((n, H))
        for xh, i, f, o, g, c_prev, c in reversed(cache):
            tanh_c = np.tanh(c)
            do = dh * tanh_c
            dc = dc + dh * o * (1 - tanh_c**2)
            di, df, dg = dc * g, dc * c_prev, dc * i
            dgates = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)], axis=1)
            grads["W"] += xh.T @ dgates
            grads["b"] += dgates.sum(axis=0)
            dxh = dgates @ self.p["W"].T
            dh, dc = dxh[:, -H:], dc * f
        return loss, grads

    def adam_step(self, grads, lr, beta1=0.9, beta2=0.999):
        self.t += 1
        for k, grad in grads.items():
            self.m[k] = beta1 * self.m[k] + (1 - beta1) * grad
            self.s[k] = beta2 * self.s[k] + (1 - beta2) * grad**2
            m_hat, s_hat = self.m[k] / (1 - beta1**self.t), self.s[k] / (1 - beta2**self.t)
            self.p[k] -= lr * m_hat / (np.sqrt(s_hat) + 1e-8)


def RNN_TRT(config, reporter):
    """Train the LSTM for num_epochs, reporting validation accuracy and loss after each epoch."""
    seed = int(config.get("seed", 0))
    hits, label = load_tracks(int(config.get("grid_job", 0)), int(config.get("n_tracks", 2000)), seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(label))
    split = int(0.8 * len(label))
    train, val = order[:split], order[split:]
    model = LSTMClassifier(
        hits.shape[2],
        int(config["lstm_hidden_size"]),
        int(config["dense_size"]),
        config["dense_activation"],
        seed,
    )
    batch = int(config["batch_size"])
    for epoch in range(1, int(config.get("num_epochs", 10)) + 1):
        rng.shuffle(train)
        for start in range(0, len(train), batch):
            rows = train[start : start + batch]
            _, grads = model.loss_and_grads(hits[rows], label[rows])
            model.adam_step(grads, float(config["lr"]))
        prob, _ = model.forward(hits[val])
        eps = 1e-12
        val_loss = -np.mean(label[val] * np.log(prob + eps) + (1 - label[val]) * np.log(1 - prob + eps))
        accuracy = float(np.mean((prob > 0.5) == (label[val] == 1)))
        if config.get("verbose"):
            print(f"epoch {epoch}: accuracy {accuracy:.4f} loss {val_loss:.4f}")
        reporter(accuracy=accuracy, loss=float(val_loss), epoch=epoch)
