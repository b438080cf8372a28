"""Quick Start example 3: a small neural network classifying handwritten digits.

The digits are scikit-learn's bundled 8x8 images (1,797 of them; no download), a small stand-in
for MNIST. Each training iteration is one epoch of a one-hidden-layer MLP trained with Adam;
the trial reports validation accuracy and loss every epoch, so ASHA, HyperBand and PBT have
something real to act on. Hyperparameters: hidden (units), batchsize, lr, beta (Adam's beta_1).
"""

import os
import pickle
import warnings

import numpy as np
from ray import tune


def load_digits_split(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data / 16.0
    return train_test_split(x, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)


class MNISTTrainable(tune.Trainable):
    def setup(self, config):
        from sklearn.neural_network import MLPClassifier

        self.x_train, self.x_val, self.y_train, self.y_val = load_digits_split()
        self.classes = np.unique(self.y_train)
        self.model = MLPClassifier(
            hidden_layer_sizes=(int(config.get("hidden", 64)),),
            batch_size=int(config.get("batchsize", 64)),
            learning_rate_init=float(config.get("lr", 1e-3)),
            beta_1=float(config.get("beta", 0.9)),
            random_state=int(config.get("seed", 0)),
        )

    def step(self):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.partial_fit(self.x_train, self.y_train, classes=self.classes)
        probabilities = self.model.predict_proba(self.x_val)
        accuracy = float(np.mean(self.classes[probabilities.argmax(axis=1)] == self.y_val))
        return {"accuracy": accuracy, "loss": float(log_loss(self.y_val, probabilities, labels=self.classes))}

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "model.pkl"), "wb") as handle:
            pickle.dump(self.model, handle)

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "model.pkl"), "rb") as handle:
            self.model = pickle.load(handle)
