"""Received HTTP/2 frames made without hyperframe's constructors.

h2 reads frames through its FrameBuffer, which makes each with hyperframe's `Frame.parse_frame_header`:
the frame class's `__init__` chain (three for HEADERS: padding, priority, the base), a `Flags` set
built from the class's flag definitions, then `parse_flags`. Under h2load that is about a tenth of
tapster's CPU, for objects whose state before `parse_body` is always the same. `FrameBuffer`
here makes a frame from its class's state as `__init__` left it once (a prototype per frame type),
its stream id, and its flags (the set of names for each flag byte, worked out once), checks the
stream association `__init__` checks, and then parses the body with the class's own `parse_body`.
Frame types whose initial state holds anything mutable (SETTINGS' dict), and types hyperframe does
not know, are made the usual way. tests/protocol/test_h2frames.py compares both ways frame by frame.
"""

from __future__ import annotations

import struct
from typing import Any

from h2.exceptions import FrameDataMissingError, ProtocolError
from h2.frame_buffer import FrameBuffer as H2FrameBuffer
from hyperframe.exceptions import InvalidDataError, InvalidFrameError
from hyperframe.flags import Flags
from hyperframe.frame import FRAMES, Frame

__all__ = ["FrameBuffer"]

_HEADER = struct.Struct(">HBBBL")  # 24-bit length (16 + 8 bits), type, flags, R + stream id (RFC 9113 §4.1)
_IMMUTABLE = (int, bool, bytes, str, type(None))


class _Kind:
    """What making a frame of one type needs: its class, its state after `__init__`, its flags."""

    __slots__ = ("association", "cls", "flag_names", "state", "valid_flags")

    def __init__(self, cls: type[Frame]) -> None:
        sample = cls(0 if cls.stream_association == "no-stream" else 1)
        self.cls = cls
        self.association = cls.stream_association
        self.state = {k: v for k, v in vars(sample).items() if k not in ("stream_id", "flags")}
        self.valid_flags = sample.flags._valid_flags  # (read only, by Flags.add)
        # The flag names set by each flag byte, as parse_flags sets them; worked out when first seen.
        self.flag_names: dict[int, frozenset[str]] = {}

    def names(self, flag_byte: int) -> frozenset[str]:
        names = self.flag_names.get(flag_byte)
        if names is None:
            names = frozenset(flag.name for flag in self.cls.defined_flags if flag_byte & flag.bit)
            self.flag_names[flag_byte] = names  # (at most 256 per frame type)
        return names


def _kinds() -> dict[int | None, _Kind]:
    """The frame types made from a prototype: those whose initial state can be shared."""
    kinds = {}
    for kind, cls in FRAMES.items():
        made = _Kind(cls)
        if all(isinstance(value, _IMMUTABLE) for value in made.state.values()):
            kinds[kind] = made
    return kinds


_KINDS = _kinds()


def _make(kind: _Kind, stream_id: int, flag_byte: int) -> Frame:
    frame: Any = object.__new__(kind.cls)
    frame.__dict__.update(kind.state)
    frame.stream_id = stream_id
    flags = object.__new__(Flags)
    flags._valid_flags = kind.valid_flags
    flags._flags = set(kind.names(flag_byte))
    frame.flags = flags
    # What Frame.__init__ checks (RFC 9113 §6: which frames belong to a stream).
    if not stream_id and kind.association == "has-stream":
        raise ProtocolError(
            f"Received frame with invalid header: Stream ID must be non-zero for {kind.cls.__name__}"
        )
    if stream_id and kind.association == "no-stream":
        raise ProtocolError(
            f"Received frame with invalid header: Stream ID must be zero for {kind.cls.__name__} "
            f"with stream_id={stream_id}"
        )
    made: Frame = frame
    return made


class FrameBuffer(H2FrameBuffer):
    """h2's FrameBuffer (preamble, length limit, CONTINUATION assembly), its frames made faster."""

    def __next__(self) -> Frame:
        data = self._data
        if len(data) < 9:
            raise StopIteration
        high, low, type_byte, flag_byte, stream_id = _HEADER.unpack_from(data)
        length = (high << 8) + low
        # The header is judged as soon as it is here (a frame on the wrong stream), the body when
        # all of it is.
        kind = _KINDS.get(type_byte)
        if kind is None:
            try:
                frame, _ = Frame.parse_frame_header(memoryview(data[:9]))
            except (InvalidDataError, InvalidFrameError) as exc:
                raise ProtocolError(f"Received frame with invalid header: {exc!s}") from exc
        else:
            frame = _make(kind, stream_id & 0x7FFFFFFF, flag_byte)
        if len(data) < 9 + length:
            raise StopIteration  # the rest of this frame has not arrived
        self._validate_frame_length(length)
        try:
            frame.parse_body(memoryview(data[9 : 9 + length]))
        except InvalidDataError as exc:
            raise ProtocolError("Received frame with non-compliant data") from exc
        except InvalidFrameError as exc:
            raise FrameDataMissingError("Frame data missing or invalid") from exc
        del data[: 9 + length]
        made = self._update_header_buffer(frame)
        # (A CONTINUATION still being gathered gives None: go on to the next frame.)
        return made if made is not None else self.__next__()
