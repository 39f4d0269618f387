"""A map of 64-bit keys to small numbers in about 16 bytes an entry, for the bundle-level checks of a bundle of a
million entries: a dict of int keys costs about 80 bytes an entry (the int object and the dict's slot).

Keys live in a sorted ``array('q')`` with their values in a parallel ``array('I')``, found by bisection; new keys
go into a small dict first, merged into the arrays once it holds a sixteenth of them (at least 4,096), so that
the dict never holds more than a few bytes per entry and the merges copy each entry about 17 times in all (by
slices of the arrays, one Python step per new key, never one per old key). A bisection costs a few µs in Python,
so two things spare most of them: a bitmap of 16 to 32 bits per key (one bit set per key, by its low bits) says
"absent" for most keys that are (every new fullUrl of a bundle is looked up before it is added), and the keys
found lately are kept in a small dict (the references of a bundle name the same few entries again and again).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

_SMALLEST_MERGE = 4096
#: bits of the bitmap per key, at least (at most twice as many): a key that is absent finds its bit set about
#: one time in this many
_BITS_PER_KEY = 16
_SMALLEST_BITMAP = 1 << 16  # bits
_FOUND_HELD = 4096


class KeyIndex:
    """``key → value`` for int keys of 64 bits and values below 2**32, the last value set for a key winning."""

    __slots__ = ("_bits", "_count", "_found", "_keys", "_mask", "_recent", "_values")

    def __init__(self) -> None:
        self._keys = array("q")
        self._values = array("I")
        self._recent: dict[int, int] = {}
        self._found: dict[int, int] = {}
        self._count = 0  # keys set, a repeated one counted each time (sizes the bitmap)
        self._mask = _SMALLEST_BITMAP - 1
        self._bits = bytearray(_SMALLEST_BITMAP >> 3)

    def __contains__(self, key: int) -> bool:
        return self.get(key) is not None

    def get(self, key: int) -> int | None:
        """The value of ``key``, None when it has none."""
        value = self._recent.get(key)
        if value is not None:
            return value
        bit = key & self._mask
        if not self._bits[bit >> 3] & (1 << (bit & 7)):
            return None
        value = self._found.get(key)
        if value is not None:
            return value
        keys = self._keys
        at = bisect_left(keys, key)
        if at == len(keys) or keys[at] != key:
            return None
        if len(self._found) >= _FOUND_HELD:
            self._found = {}
        value = self._found[key] = self._values[at]
        return value

    def set(self, key: int, value: int) -> None:
        """Give ``key`` the value ``value`` (replacing the one it had)."""
        self._recent[key] = value
        if key in self._found:
            self._found[key] = value
        bit = key & self._mask
        self._bits[bit >> 3] |= 1 << (bit & 7)
        self._count += 1
        if self._count * _BITS_PER_KEY > self._mask + 1:
            self._grow_bitmap()
        if len(self._recent) >= max(_SMALLEST_MERGE, len(self._keys) >> 4):
            self._merge()

    def _grow_bitmap(self) -> None:
        """Twice the bits, set again from every key."""
        mask = (self._mask << 1) | 1
        bits = bytearray((mask + 1) >> 3)
        for keys in (self._keys, self._recent):
            for key in keys:
                bit = key & mask
                bits[bit >> 3] |= 1 << (bit & 7)
        self._mask, self._bits = mask, bits

    def _merge(self) -> None:
        """Move the recent keys into the sorted arrays: the old arrays are copied slice by slice between the new
        keys' places (a key already there takes its new value)."""
        keys, values = self._keys, self._values
        merged_keys, merged_values = array("q"), array("I")
        done, size = 0, len(keys)
        step = 4 * (size // len(self._recent)) + 4  # a few times the gap between two new keys' places
        for key, value in sorted(self._recent.items()):
            near = done + step  # most new keys land within a step of the last one: a short bisection
            at = (
                bisect_left(keys, key, done, near)
                if near < size and key <= keys[near]
                else bisect_left(keys, key, done)
            )
            merged_keys.extend(keys[done:at])
            merged_values.extend(values[done:at])
            merged_keys.append(key)
            merged_values.append(value)
            done = at + 1 if at < len(keys) and keys[at] == key else at
        merged_keys.extend(keys[done:])
        merged_values.extend(values[done:])
        self._keys, self._values = merged_keys, merged_values
        self._recent = {}
