"""With OPSLEDGER_EXPECT_WHEEL=1 (CI, after installing the wheel in a fresh venv outside the
checkout): the package and its library come from the wheel, nothing from the checkout."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

import opsledger

pytestmark = pytest.mark.skipif(
    os.environ.get("OPSLEDGER_EXPECT_WHEEL") != "1", reason="checks an installed wheel (CI)"
)


def test_the_package_and_its_library_come_from_the_wheel() -> None:
    assert "OPSLEDGER_LIB" not in os.environ
    package = Path(opsledger.__file__).resolve().parent
    assert "site-packages" in package.parts
    assert opsledger.find_library() == opsledger.bundled_library()
    assert opsledger.find_library().parent == package
    assert opsledger.native().path == opsledger.find_library()
    repository = os.environ.get("OPSLEDGER_REPOSITORY")
    if repository:
        inside = [p for p in sys.path if p and Path(p).resolve().is_relative_to(Path(repository).resolve())]
        assert not inside, inside


def section_names(path: Path) -> "list[bytes]":
    """The section names of an ELF64 little-endian file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    strtab_offset = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
    names = []
    for i in range(shnum):
        name_offset = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
        end = data.index(b"\0", strtab_offset + name_offset)
        names.append(data[strtab_offset + name_offset : end])
    return names


@pytest.mark.skipif(sys.platform != "linux", reason="ELF")
def test_the_bundled_library_is_stripped() -> None:
    names = section_names(opsledger.find_library())
    assert b".dynsym" in names  # the exported C ABI
    assert b".symtab" not in names and b".debug_info" not in names
    assert opsledger.debug_live_buffers() is None  # a release build
