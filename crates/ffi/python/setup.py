"""Builds the wheel with the C library inside (setuptools-rust; the metadata is in pyproject.toml).

- The library is crates/ffi (a plain cdylib, no Python bindings: ``Binding.NoBinding``), built
  by cargo with ``--locked`` and stripped, and placed in the package as
  ``opsledger/libopsledger_ffi*.so`` where ``opsledger._native`` finds it first.
- The library does not link libpython, so one wheel serves every Python 3: the wheel is tagged
  ``py3-none-<platform>``; ``auditwheel repair`` then gives it its manylinux tag.
- The cargo profile is ``release`` (fat LTO); ``SETUPTOOLS_RUST_CARGO_PROFILE=wheel`` picks the
  workspace's faster ``wheel`` profile (CI).
- A source distribution carries the Rust workspace under ``rust/`` (every file git tracks
  outside this directory), so that it builds wherever cargo is present.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension, Strip

HERE = Path(__file__).resolve().parent
VENDORED = HERE / "rust"  # the workspace, inside a source distribution


def manifest() -> str:
    if (VENDORED / "Cargo.toml").is_file():
        return "rust/crates/ffi/Cargo.toml"
    return "../Cargo.toml"


class PlatformWheel(bdist_wheel):
    """A platform wheel for any Python 3: the library is loaded with ctypes, not imported."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class WorkspaceSdist(sdist):
    """Adds the Rust workspace (under ``rust/``) to the source distribution."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "rust"
        if VENDORED.is_dir():  # an sdist made from an sdist
            shutil.copytree(VENDORED, target)
            return
        workspace = HERE.parents[2]  # in a checkout: crates/ffi/python
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=workspace, check=True, capture_output=True
        ).stdout.decode("utf-8")
        python_dir = HERE.relative_to(workspace).as_posix() + "/"
        for name in filter(None, listed.split("\0")):
            if name.startswith(python_dir) or name.startswith(".ci/"):
                continue
            source = workspace / name
            if source.is_file():
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)


setup(
    rust_extensions=[
        RustExtension(
            "opsledger.libopsledger_ffi",
            path=manifest(),
            binding=Binding.NoBinding,
            strip=Strip.All,
            cargo_manifest_args=["--locked"],
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel, "sdist": WorkspaceSdist},
    zip_safe=False,
)
