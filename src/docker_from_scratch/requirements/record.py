"""Value records without dataclasses or typing at run time.

The launcher imports its modules at every container start, where ``dataclasses`` (with
inspect and re) and ``typing`` (for NamedTuple) cost 6 to 20 ms inside the image. A
subclass lists its fields in ``__slots__`` and writes a typed ``__init__``; equality,
hashing and repr come from the slots, in their order.
"""


class Record:
    __slots__: tuple[str, ...] = ()

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Record) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
