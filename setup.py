"""Packaging for hpogrid: hyperparameter optimization on the ATLAS grid.

Core installs the config/project tools and the local Ray Tune runner; every optimizer library,
the grid client and the report exporters are extras, imported only by the code that needs them.
Versions are pinned to a set tested together (see README, "Dependencies").
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "hpogrid" / "_version.py").read_text(), VERSION)

# Pins tested together on Python 3.11 (fresh venv, `pip check` clean).
CORE = [
    "click==8.5.1",
    "ray[tune]==2.60.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "pyarrow==26.0.1",
]
EXTRAS = {
    # one extra per optimizer library (hpo_config.algorithm)
    "hyperopt": ["hyperopt==0.3.0"],
    "optuna": ["optuna==5.0.0"],
    "skopt": ["scikit-optimize==0.10.2"],
    "nevergrad": ["nevergrad==1.0.12", "bayesian-optimization==1.4.0"],
    "bayesian": ["bayesian-optimization==1.4.0"],
    "bohb": ["hpbandster==0.7.4", "ConfigSpace==1.2.2"],
    # Ax pulls torch (about 1 GB); kept out of "all"
    "ax": ["ax-platform==1.2.4", "botorch==0.17.2", "torch==2.13.0"],
    # schedulers and examples
    "pb2": ["scikit-learn==1.9.1"],
    "examples": ["scikit-learn==1.9.1"],
    # grid submission and monitoring
    "grid": ["panda-client==2.2.0"],
    # report exporters
    "report": [
        "plotly==7.1.0",
        "mlflow-skinny==3.17.2",
        "sqlalchemy==2.1.9",
        "alembic==1.20.1",
    ],
}
EXTRAS["all"] = sorted({req for name, reqs in EXTRAS.items() if name != "ax" for req in reqs})
EXTRAS["dev"] = [
    "pytest==9.0.3",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",
    "hypothesis==6.155.2",
    "ruff==0.17.5",
    "psutil==7.2.2",
    "cryptography==50.0.2",  # test certificates: a grid proxy against a TLS server (tests/test_steering_logs.py)
    # executing example/notebook.ipynb headless in a real kernel
    "nbclient==0.11.0",
    "nbformat==5.11.1",
    "ipykernel==7.4.0",
]

setup(
    name="hpogrid",
    version=VERSION["__version__"],
    description="Hyperparameter optimization with Ray Tune, locally and on the ATLAS grid (PanDA/iDDS)",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["hpogrid", "hpogrid.*"]),
    include_package_data=True,
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hpogrid = hpogrid.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Physics",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
