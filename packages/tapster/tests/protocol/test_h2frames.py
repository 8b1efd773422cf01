"""tapster's FrameBuffer makes the same frames as h2's, from the same bytes however they are split,
and fails the same way on the same bad input."""

from __future__ import annotations

import random
from typing import Any

import pytest
from h2.frame_buffer import FrameBuffer as H2FrameBuffer
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from tapster.protocol._h2frames import FrameBuffer

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _frames(rng: random.Random) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(rng.randint(1, 12)):
        sid = rng.choice([1, 3, 5, 0x7FFFFFFF])
        choice = rng.randrange(11)
        frame: Frame
        if choice == 0:
            frame = HeadersFrame(sid, data=rng.randbytes(rng.randint(0, 40)))
            for flag in ("END_STREAM", "PADDED", "PRIORITY"):
                if rng.random() < 0.4:
                    frame.flags.add(flag)
            if "PADDED" in frame.flags:
                frame.pad_length = rng.randint(0, 9)
            if "PRIORITY" in frame.flags:
                frame.depends_on, frame.stream_weight = rng.randint(0, 9), rng.randint(1, 255)
                frame.exclusive = rng.random() < 0.5
            if rng.random() < 0.3:  # a header block continued in CONTINUATION frames
                out.append(frame.serialize())
                for last in [False] * rng.randint(0, 2) + [True]:
                    continued = ContinuationFrame(sid, data=rng.randbytes(rng.randint(0, 20)))
                    if last:
                        continued.flags.add("END_HEADERS")
                    out.append(continued.serialize())
                continue
            frame.flags.add("END_HEADERS")
        elif choice == 1:
            frame = DataFrame(sid, data=rng.randbytes(rng.randint(0, 100)))
            if rng.random() < 0.5:
                frame.flags.add("END_STREAM")
            if rng.random() < 0.3:
                frame.flags.add("PADDED")
                frame.pad_length = rng.randint(0, 20)
        elif choice == 2:
            frame = WindowUpdateFrame(rng.choice([0, sid]), window_increment=rng.randint(1, 2**31 - 1))
        elif choice == 3:
            frame = RstStreamFrame(sid, error_code=rng.randint(0, 14))
        elif choice == 4:
            frame = PingFrame(0, opaque_data=rng.randbytes(8))
            if rng.random() < 0.5:
                frame.flags.add("ACK")
        elif choice == 5:
            frame = PriorityFrame(sid, depends_on=rng.randint(0, 9), stream_weight=rng.randint(1, 255))
        elif choice == 6:
            frame = GoAwayFrame(0, last_stream_id=sid, error_code=rng.randint(0, 14))
        elif choice == 7:
            frame = SettingsFrame(0, settings={1: 4096, 4: rng.randint(0, 2**31 - 1)})
        elif choice == 8:  # a frame on the wrong stream: stream 0 for a stream's frame, or the reverse
            data = RstStreamFrame(1, error_code=1).serialize()
            out.append(data[:5] + b"\x00\x00\x00\x00" + data[9:] if rng.random() < 0.5 else data)
            data = PingFrame(0, opaque_data=b"12345678").serialize()
            out.append(data[:5] + b"\x00\x00\x00\x07" + data[9:])
            continue
        elif choice == 9:  # an unknown frame type, and unknown flag bits
            body = rng.randbytes(rng.randint(0, 10))
            out.append(
                len(body).to_bytes(3, "big") + bytes((0x42, rng.randrange(256))) + b"\x00\x00\x00\x01" + body
            )
            data = DataFrame(1, data=b"x").serialize()
            out.append(data[:4] + bytes((rng.randrange(256),)) + data[5:])
            continue
        else:  # a body that does not fit its type (a short WINDOW_UPDATE, a PING of 3 bytes)
            out.append(b"\x00\x00\x03\x08\x00\x00\x00\x00\x01abc")
            out.append(b"\x00\x00\x03\x06\x00\x00\x00\x00\x00abc")
            continue
        out.append(frame.serialize())
    return out


def _read(buffer: Any, data: bytes, sizes: list[int]) -> list[object]:
    seen: list[object] = []
    at = 0
    try:
        while at < len(data):
            size = sizes[len(seen) % len(sizes)]
            buffer.add_data(data[at : at + size])
            buffer.max_frame_size = 16384
            at += size
            for frame in buffer:
                state = {k: (sorted(v) if k == "flags" else v) for k, v in vars(frame).items()}
                seen.append((type(frame).__name__, state))
    except Exception as exc:
        seen.append((type(exc).__name__, str(exc), at))
    return seen


@pytest.mark.parametrize("seed", range(200))
def test_the_same_frames_as_h2s_buffer(seed: int) -> None:
    rng = random.Random(seed)
    data = PREFACE + b"".join(_frames(rng))
    sizes = [rng.choice([1, 2, 5, 9, 17, 64, 4096]) for _ in range(5)]
    assert _read(FrameBuffer(server=True), data, sizes) == _read(H2FrameBuffer(server=True), data, sizes)


def test_an_overlong_frame_is_refused_as_h2_refuses_it() -> None:
    data = PREFACE + DataFrame(1, data=b"x" * 20000).serialize()
    ours = _read(FrameBuffer(server=True), data, [100000])
    assert ours == _read(H2FrameBuffer(server=True), data, [100000])
    assert ours[0][0] == "FrameTooLargeError"  # type: ignore[index]
