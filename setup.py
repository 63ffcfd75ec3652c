"""Maps the top-level folders integrations/ and dashboard/ onto dia.integrations and
dia.dashboard (pyproject.toml's packages.find cannot rename folders)."""

from setuptools import find_packages, setup

ROOTS = {"dia": "dia", "dia.integrations": "integrations", "dia.dashboard": "dashboard"}


def _packages() -> list[str]:
    out = []
    for name, folder in ROOTS.items():
        out.append(name)
        out += [f"{name}.{sub}" for sub in find_packages(folder)]
    return out


setup(packages=_packages(), package_dir=ROOTS)
