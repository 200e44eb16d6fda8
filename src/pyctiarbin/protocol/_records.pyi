from typing import Any

def from_columns(
    cls: type, slots: tuple[Any, ...], columns: tuple[tuple[Any, ...], ...]
) -> list[Any]:
    """Records of ``cls`` whose slots (member descriptors) are filled from ``columns``."""

def copy_as(cls: type, slots: tuple[Any, ...], record: Any) -> Any:
    """A new ``cls`` whose slots hold what ``record``'s do."""
