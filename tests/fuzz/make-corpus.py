#!/usr/bin/env python3
# Regenerates tests/fuzz/corpus: hostile and valid inputs for fuzz-frame.c.
# Each file is: one byte choosing the read size, then the TCP byte stream.
import os, struct

def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field(num, wt, payload):
    key = varint((num << 3) | wt)
    if wt == 0:
        return key + varint(payload)
    if wt == 2:
        return key + varint(len(payload)) + payload
    raise ValueError

def frame(payload):
    return struct.pack('>I', len(payload)) + payload

auth = field(1, 0, 1) + field(10, 2, field(1, 2, b'v1.abc.def') + field(2, 2, b'device-1'))
chat = field(1, 0, 2) + field(13, 2, field(1, 2, b'0b7c7f0e-8a3b-4c1e-9d7a-2f3e4d5c6b7a')
                              + field(2, 0, 10) + field(3, 2, 'héllo'.encode()) + field(4, 0, 1))
ack = field(16, 2, field(1, 0, 42))
push = field(15, 2, field(1, 2, field(1, 0, 99) + field(2, 2, b'private_9_10') + field(5, 0, 7)))
heartbeat = field(12, 2, field(1, 0, 123456))

cases = {
    'valid-auth': b'\x00' + frame(auth),
    'valid-two-frames': b'\x03' + frame(chat) + frame(ack),
    'valid-push-heartbeat': b'\x01' + frame(push) + frame(heartbeat) + frame(ack),
    'many-tiny-frames': b'\x07' + frame(ack) * 200,
    'zero-length': b'\x00' + b'\x00\x00\x00\x00' + frame(ack),
    'length-max-u32': b'\x02' + b'\xff\xff\xff\xff' + b'A' * 64,
    'length-max-plus-one': b'\x10' + struct.pack('>I', 4097) + b'A' * 200,
    'length-exactly-max': b'\xff' + frame(b'\x80' * 4096),
    'truncated-frame': b'\x00' + struct.pack('>I', 100) + b'0123456789',
    'no-body': b'\x00' + frame(field(1, 0, 5)),
    'unknown-field-only': b'\x00' + frame(field(127, 0, 1)),
    'bad-varint': b'\x00' + frame(b'\x08' + b'\xff' * 11),
    'nested-length-overflow': b'\x00' + frame(b'\x52' + varint(0x7fffffff) + b'abc'),
    'group-wire-types': b'\x00' + frame(b'\x0b\x0c' + ack),
    'wire-type-7': b'\x00' + frame(b'\x0f\x01'),
    'two-bodies': b'\x00' + frame(auth + chat + ack),
    'repeated-submessage': b'\x00' + frame(field(13, 2, b'\x0a\x01a') + field(13, 2, b'\x12\x01\x05')),
    'invalid-utf8': b'\x00' + frame(field(13, 2, field(3, 2, b'\xff\xfe\xc0\x80'))),
    'bad-enum': b'\x00' + frame(field(17, 2, field(1, 0, 0xffffffff))),
    'negative-int64': b'\x00' + frame(field(13, 2, field(2, 0, (1 << 64) - 1))),
    'header-split': b'\x00' + frame(chat)[:3],
    'garbage-ascii': b'\x05' + b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'tls-hello': b'\x09' + bytes.fromhex('16030100a5010000a10303') + b'\x00' * 40,
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(here, exist_ok=True)
for name, data in cases.items():
    with open(os.path.join(here, name), 'wb') as f:
        f.write(data)
