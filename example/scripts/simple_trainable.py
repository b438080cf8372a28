"""Quick Start example 2: a Trainable class with checkpoints.

Each training iteration advances a time step; loss = beta * tanh(timestep / alpha).
Uses Ray Tune's Trainable API (setup/step/save_checkpoint/load_checkpoint).
"""

import json
import os

import numpy as np
from ray import tune


class MyTrainableClass(tune.Trainable):
    def setup(self, config):
        self.timestep = 0

    def step(self):
        self.timestep += 1
        alpha = self.config.get("alpha", 1)
        beta = self.config.get("beta", 1)
        return {"loss": self.calculate_loss(alpha, beta), "timestep": self.timestep}

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json"), "w") as handle:
            json.dump({"timestep": self.timestep}, handle)

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json")) as handle:
            self.timestep = json.load(handle)["timestep"]

    def calculate_loss(self, alpha, beta):
        return float(beta * np.tanh(self.timestep / alpha)) if alpha else float(beta)
