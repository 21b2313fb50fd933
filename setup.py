"""Build hook: the wheel carries the dbt project inside the ``hub`` package.

dbt_project.yml, profiles.yml and transforms/ stay at the repository root, where a dbt user
looks for them; an installed hub has no repository root, so ``build_py`` copies them to
``hub/_dbt_project/`` in the build. ``hub/dbt_project.py`` finds either place.
Everything else about the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
PROJECT_FOLDERS = ("transforms",)


class BuildPyWithDbtProject(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout itself
            return
        target = Path(self.build_lib) / "hub" / "_dbt_project"
        shutil.rmtree(target, ignore_errors=True)  # no stale model from an earlier build
        target.mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(ROOT / name, target / name)
        for name in PROJECT_FOLDERS:
            shutil.copytree(ROOT / name, target / name)


setup(cmdclass={"build_py": BuildPyWithDbtProject})
