"""Quick Start example 1: a simple objective function.

loss = (height - 14)**2 - abs(width - 3), minimized over -100 < height < 100 and 0 < width < 20.
"""


def calculate_loss(height: float, width: float) -> float:
    return (height - 14) ** 2 - abs(width - 3)


def simple_objective(config, reporter):
    """hpogrid calls this once per trial with the trial's hyperparameters in `config`."""
    reporter(loss=calculate_loss(config["height"], config["width"]))
