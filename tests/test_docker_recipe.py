"""The payload image recipe installs this checkout with setup.py's pins, and nothing unpinned."""

from __future__ import annotations

import re

from tests.conftest import REPO

DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()


def load_setup() -> dict:
    """setup.py's module namespace, with its setup() call neutralized."""
    namespace: dict = {"__file__": str(REPO / "setup.py")}
    text = (REPO / "setup.py").read_text().replace("setup(", "dict(", 1)
    exec(compile(text, "setup.py", "exec"), namespace)
    return namespace


def setup_pins() -> dict[str, str]:
    namespace = load_setup()
    requirements = namespace["CORE"] + [r for reqs in namespace["EXTRAS"].values() for r in reqs]
    pins = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        assert version, f"setup.py requirement {requirement!r} is not pinned"
        pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_image_installs_the_checkout_not_an_index_release():
    commands = " ".join(line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#"))
    assert "COPY . /opt/hpogrid" in commands
    assert 'pip install --no-cache-dir "/opt/hpogrid[${EXTRAS}]"' in commands
    assert not re.search(r"pip install[^&]*\bhpogrid\b(?!\[)(?!/)", commands.replace("/opt/hpogrid", ""))
    assert "--upgrade" not in commands and " -U " not in commands


def test_every_version_the_image_names_matches_setup_py():
    pins = setup_pins()
    named = re.findall(r'"([A-Za-z0-9_.\-]+)==([0-9][^"\s]*)"', DOCKERFILE)
    assert named, "the recipe names no pinned package"
    for name, version in named:
        assert pins.get(name.lower()) == version, f"{name}=={version} differs from setup.py ({pins.get(name.lower())})"


def test_default_extras_exist_in_setup_py():
    namespace = load_setup()
    default = re.search(r"ARG EXTRAS=(\S+)", DOCKERFILE).group(1)
    assert set(default.split(",")) <= set(namespace["EXTRAS"])


def test_default_container_is_this_versions_payload_image():
    from hpogrid._version import __version__
    from hpogrid.configs.grid import DEFAULT_CONTAINER, IMAGE

    assert DEFAULT_CONTAINER.endswith(f"{IMAGE}:{__version__}")
    readme = (REPO / "README.md").read_text()
    assert f"docker build -f docker/Dockerfile -t {IMAGE}:{__version__} ." in readme
