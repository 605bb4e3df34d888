#!/usr/bin/env python3
"""Write a .npy file of zeros with any descr, without numpy (the cli tests' arrays).

usage: write_npy.py FILE DESCR ITEMSIZE SHAPE   e.g. x.npy '<i4' 4 '(2, 64)'
"""
import ast
import struct
import sys

path, descr, size, shape = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
count = 1
for d in ast.literal_eval(shape):
    count *= d
head = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
head += " " * (63 - (10 + len(head)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode())
    f.write(b"\0" * (count * size))
